package consensus

import "encoding/json"

// Op says what a Command does to the store.
type Op uint8

const (
	// OpCreate stores a new object; it fails with ErrAlreadyExists when the
	// key is taken. The FSM sets metadata.uid (Command.UID),
	// metadata.creationTimestamp (Command.Time), metadata.generation = 1 and
	// metadata.resourceVersion.
	OpCreate Op = 1
	// OpUpdate replaces an object; it fails with ErrNotFound when the key is
	// absent and with ErrConflict when Command.ResourceVersion is non-zero and
	// differs from the stored one (or Command.UID is set and differs). uid,
	// creationTimestamp and deletionTimestamp are kept from the stored object;
	// metadata.generation is bumped when the top-level "spec" changed. When
	// the stored object has a deletionTimestamp and the update removes its
	// last finalizer, the object is removed instead (a DELETED event).
	OpUpdate Op = 2
	// OpDelete removes an object (ErrNotFound / ErrConflict as for update,
	// with Command.UID and Command.ResourceVersion as preconditions). When the
	// object has finalizers, or Command.Graceful is set, it is kept and only
	// marked: deletionTimestamp = Command.Time (if not already set) and
	// deletionGracePeriodSeconds = Command.GracePeriodSeconds. A plain delete
	// of an object already marked and without finalizers removes it.
	OpDelete Op = 3
)

// Subresource values for OpUpdate.
const (
	// SubresourceNone: a main-resource update. With PreserveStatus the stored
	// "status" is kept and the new one ignored.
	SubresourceNone = ""
	// SubresourceStatus: only the new "status" is taken; everything else is
	// kept from the stored object.
	SubresourceStatus = "status"
)

// Command is one change proposed to the store. It carries everything the FSM
// needs (times, uids) so that every replica decides the same.
type Command struct {
	Op        Op     `json:"op"`
	Resource  string `json:"resource"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Object is the full JSON object for create and update.
	Object json.RawMessage `json:"object,omitempty"`
	// UID is the uid to assign on create, and a precondition on update/delete.
	UID string `json:"uid,omitempty"`
	// ResourceVersion is a precondition on update and delete; 0 means none.
	ResourceVersion uint64 `json:"resourceVersion,omitempty"`
	// Time is RFC3339: creationTimestamp on create, deletionTimestamp on delete.
	Time string `json:"time,omitempty"`
	// Subresource is SubresourceNone or SubresourceStatus (update only).
	Subresource string `json:"subresource,omitempty"`
	// PreserveStatus keeps the stored status on a main-resource update.
	PreserveStatus bool `json:"preserveStatus,omitempty"`
	// AnnotationsWithStatus makes a status update also take
	// metadata.annotations (Kubernetes' Deployment status strategy keeps
	// only spec and labels: the controller records revisions that way
	// without a new generation).
	AnnotationsWithStatus bool `json:"annotationsWithStatus,omitempty"`
	// AnnotationsBumpGeneration makes a main-resource update also bump
	// metadata.generation when metadata.annotations changed (Deployments:
	// their annotations are copied to their ReplicaSets).
	AnnotationsBumpGeneration bool `json:"annotationsBumpGeneration,omitempty"`
	// GracePeriodSeconds is recorded as deletionGracePeriodSeconds on delete.
	GracePeriodSeconds *int64 `json:"gracePeriodSeconds,omitempty"`
	// Graceful marks the object for deletion instead of removing it (pods
	// bound to a node, removed later by their kubelet).
	Graceful bool `json:"graceful,omitempty"`

	// Claims are unique names the object holds (see Store.Claims), e.g.
	// "service-ip/10.43.0.12". On create they become the object's claims;
	// on update they are added, or with SetClaims they replace the
	// object's claims. A name another object holds fails the command with
	// ErrClaimed and nothing is written. Removing the object releases its
	// claims.
	Claims []string `json:"claims,omitempty"`
	// Releases are claims an update drops (without SetClaims).
	Releases []string `json:"releases,omitempty"`
	// SetClaims makes an update set the object's claims to exactly Claims
	// (none when empty). Without it an update keeps the object's claims
	// apart from Claims and Releases.
	SetClaims bool `json:"setClaims,omitempty"`

	// stampInPlace makes a create keep the object's JSON as it is and
	// splice the stamped metadata into it (object_stamp.go). Framed
	// entries set it (fsm_framed.go); JSON ones never did, and replicas
	// must decide alike.
	stampInPlace bool
}
