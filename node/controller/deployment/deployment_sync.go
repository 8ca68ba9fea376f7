package deployment

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shoal-project/shoal/node/controller"
	"github.com/shoal-project/shoal/node/follow"
)

// syncKey syncs the deployment namespace/name as the node's cache holds
// it, once the cache holds this controller's own writes.
func (c *Controller) syncKey(ctx context.Context, key string) error {
	ns, name, ok := strings.Cut(key, "/")
	if !ok {
		return nil
	}
	f := c.followers()
	controller.AwaitCache(ctx, func() bool {
		return c.wroteRS.SeenBy(f.replicaSets.ResourceVersion()) && c.wroteD.SeenBy(f.deployments.ResourceVersion())
	})
	d, ok := f.deployments.Get(ns, name)
	if !ok {
		return nil
	}
	// The ReplicaSets written before this version of the deployment must be
	// in their cache: one missed looks like a hash collision.
	rv, _ := strconv.ParseUint(d.ResourceVersion, 10, 64)
	follow.WaitHolds(ctx, rv, time.Second, f.replicaSets)
	return c.syncDeployment(ctx, d.DeepCopy())
}

// syncDeployment is one level-triggered pass over d, in Kubernetes'
// order: claim ReplicaSets, deleted -> status only, pause conditions,
// paused -> scale only, scaling event -> scale, else roll out.
func (c *Controller) syncDeployment(ctx context.Context, d *appsv1.Deployment) error {
	if d.Spec.Selector == nil || (len(d.Spec.Selector.MatchLabels) == 0 && len(d.Spec.Selector.MatchExpressions) == 0) {
		c.rec.Event(d, corev1.EventTypeWarning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			return c.writeDeployment(ctx, d)
		}
		return nil
	}
	rsList, err := c.replicaSetsFor(ctx, d)
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		return c.syncStatusOnly(ctx, d, rsList)
	}
	if err := c.checkPausedConditions(ctx, d); err != nil {
		return err
	}
	if d.Spec.Paused {
		return c.syncScale(ctx, d, rsList)
	}
	scaling, err := c.isScalingEvent(ctx, d, rsList)
	if err != nil {
		return err
	}
	if scaling {
		return c.syncScale(ctx, d, rsList)
	}
	switch d.Spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		return c.rolloutRecreate(ctx, d, rsList)
	case appsv1.RollingUpdateDeploymentStrategyType:
		return c.rolloutRolling(ctx, d, rsList)
	}
	return fmt.Errorf("unexpected deployment strategy type: %s", d.Spec.Strategy.Type)
}

// replicaSetsFor returns the ReplicaSets d controls, adopting orphans its
// selector matches and releasing owned ones it no longer matches (as
// Kubernetes' ControllerRefManager).
func (c *Controller) replicaSetsFor(ctx context.Context, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s has an invalid label selector: %w", d.Namespace, d.Name, err)
	}
	var owned []*appsv1.ReplicaSet
	var canAdopt *bool
	for _, cached := range c.followers().replicaSets.ByIndex(follow.IndexByNamespace, d.Namespace) {
		matches := sel.Matches(labels.Set(cached.Labels))
		if ref := metav1.GetControllerOf(cached); !matches && (ref == nil || ref.UID != d.UID) {
			continue
		}
		rs := cached.DeepCopy() // the sync refreshes it from its writes
		if ref := metav1.GetControllerOf(rs); ref != nil {
			if ref.UID != d.UID {
				continue
			}
			if matches {
				owned = append(owned, rs)
			} else if d.DeletionTimestamp == nil {
				if err := c.releaseReplicaSet(ctx, d, rs); err != nil {
					return nil, err
				}
			}
			continue
		}
		if !matches || rs.DeletionTimestamp != nil || d.DeletionTimestamp != nil {
			continue
		}
		if canAdopt == nil {
			ok := c.canAdopt(d)
			canAdopt = &ok
		}
		if !*canAdopt {
			continue
		}
		adopted, err := c.adoptReplicaSet(ctx, d, rs)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		owned = append(owned, adopted)
	}
	return owned, nil
}

// canAdopt re-reads d: a deployment deleted or replaced since the sync
// began must not adopt.
func (c *Controller) canAdopt(d *appsv1.Deployment) bool {
	cur, ok := c.followers().deployments.Get(d.Namespace, d.Name)
	return ok && cur.UID == d.UID && cur.DeletionTimestamp == nil
}

func (c *Controller) adoptReplicaSet(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
	cp := rs.DeepCopy()
	cp.OwnerReferences = slices.DeleteFunc(cp.OwnerReferences, func(r metav1.OwnerReference) bool { return r.UID == d.UID })
	cp.OwnerReferences = append(cp.OwnerReferences, *metav1.NewControllerRef(d, deploymentKind))
	out, err := c.deps.Client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("adopt replicaset %s: %w", rs.Name, err)
	}
	c.wroteRS.Note(out.ResourceVersion)
	c.log.Info("deployment adopted replicaset", "deployment", d.Namespace+"/"+d.Name, "replicaset", rs.Name)
	return out, nil
}

func (c *Controller) releaseReplicaSet(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet) error {
	cp := rs.DeepCopy()
	cp.OwnerReferences = slices.DeleteFunc(cp.OwnerReferences, func(r metav1.OwnerReference) bool { return r.UID == d.UID })
	out, err := c.deps.Client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("release replicaset %s: %w", rs.Name, err)
	}
	if err == nil {
		c.wroteRS.Note(out.ResourceVersion)
		c.log.Info("deployment released replicaset", "deployment", d.Namespace+"/"+d.Name, "replicaset", rs.Name)
	}
	return nil
}

// writeDeployment stores d's status and, through the same status write,
// its annotations (the revision): Kubernetes' Deployment status strategy
// takes annotations, so recording a revision is no new generation. d is
// refreshed from the answer, so later writes of the same pass carry the
// new resourceVersion.
func (c *Controller) writeDeployment(ctx context.Context, d *appsv1.Deployment) error {
	out, err := c.deps.Client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	c.wroteD.Note(out.ResourceVersion)
	*d = *out
	return nil
}

// syncStatusOnly updates the status and takes no other action.
func (c *Controller) syncStatusOnly(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.getAllReplicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	return c.syncDeploymentStatus(ctx, append(oldRSs, newRS), newRS, d)
}

// syncScale reconciles scaling events and paused deployments.
func (c *Controller) syncScale(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.getAllReplicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	if err := c.scale(ctx, d, newRS, oldRSs); err != nil {
		return err
	}
	if d.Spec.Paused {
		if err := c.cleanupDeployment(ctx, oldRSs, d); err != nil {
			return err
		}
	}
	return c.syncDeploymentStatus(ctx, append(oldRSs, newRS), newRS, d)
}

// checkPausedConditions records pausing and resuming in the Progressing
// condition, so a deployment resumed after longer than its deadline does
// not time out at once.
func (c *Controller) checkPausedConditions(ctx context.Context, d *appsv1.Deployment) error {
	if !hasProgressDeadline(d) {
		return nil
	}
	cond := getDeploymentCondition(d.Status, appsv1.DeploymentProgressing)
	if cond != nil && cond.Reason == reasonTimedOut {
		return nil
	}
	pausedCond := cond != nil && cond.Reason == reasonPaused
	switch {
	case d.Spec.Paused && !pausedCond:
		setDeploymentCondition(&d.Status, *newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, reasonPaused, "Deployment is paused", c.now()))
	case !d.Spec.Paused && pausedCond:
		setDeploymentCondition(&d.Status, *newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, reasonResumed, "Deployment is resumed", c.now()))
	default:
		return nil
	}
	return c.writeDeployment(ctx, d)
}

// getAllReplicaSetsAndSyncRevision returns the new ReplicaSet (created
// when create is set and none has d's template) and the old ones, with the
// new one's revision raised above every old one and mirrored on d.
func (c *Controller) getAllReplicaSetsAndSyncRevision(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	oldRSs := findOldRSs(d, rsList)
	newRS, err := c.getNewReplicaSet(ctx, d, rsList, oldRSs, create)
	if err != nil {
		return nil, nil, err
	}
	return newRS, oldRSs, nil
}

func (c *Controller) getNewReplicaSet(ctx context.Context, d *appsv1.Deployment, rsList, oldRSs []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, error) {
	existing := findNewRS(d, rsList)
	newRevision := strconv.FormatInt(maxRevision(oldRSs)+1, 10)

	if existing != nil {
		rsCopy := existing.DeepCopy()
		annotationsUpdated := setNewRSAnnotations(d, rsCopy, newRevision, true)
		if annotationsUpdated || rsCopy.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			rsCopy.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			out, err := c.deps.Client.AppsV1().ReplicaSets(rsCopy.Namespace).Update(ctx, rsCopy, metav1.UpdateOptions{})
			if err != nil {
				return nil, err
			}
			c.wroteRS.Note(out.ResourceVersion)
			*existing = *out
			return existing, nil
		}
		metaChanged := setDeploymentRevision(d, rsCopy.Annotations[RevisionAnnotation])
		statusChanged := false
		if hasProgressDeadline(d) && getDeploymentCondition(d.Status, appsv1.DeploymentProgressing) == nil {
			msg := fmt.Sprintf("Found new replica set %q", rsCopy.Name)
			setDeploymentCondition(&d.Status, *newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonFoundNewRS, msg, c.now()))
			statusChanged = true
		}
		if metaChanged || statusChanged {
			if err := c.writeDeployment(ctx, d); err != nil {
				return nil, err
			}
		}
		return existing, nil
	}
	if !create {
		return nil, nil
	}

	// No ReplicaSet has d's template: create one.
	template := *d.Spec.Template.DeepCopy()
	hash := ComputePodTemplateHash(&template, d.Status.CollisionCount)
	template.Labels = cloneAndAddLabel(d.Spec.Template.Labels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	newRS := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, deploymentKind)},
			Labels:          template.Labels,
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        new(int32),
			MinReadySeconds: d.Spec.MinReadySeconds,
			Selector:        cloneSelectorAndAddLabel(d.Spec.Selector, appsv1.DefaultDeploymentUniqueLabelKey, hash),
			Template:        template,
		},
	}
	n, err := newRSNewReplicas(d, append(slices.Clone(oldRSs), newRS), newRS)
	if err != nil {
		return nil, err
	}
	*newRS.Spec.Replicas = n
	setNewRSAnnotations(d, newRS, newRevision, false)

	alreadyExists := false
	created, err := c.deps.Client.AppsV1().ReplicaSets(d.Namespace).Create(ctx, newRS, metav1.CreateOptions{})
	if err == nil {
		c.wroteRS.Note(created.ResourceVersion)
	}
	switch {
	case apierrors.IsAlreadyExists(err):
		alreadyExists = true
		rs, getErr := c.deps.Client.AppsV1().ReplicaSets(d.Namespace).Get(ctx, newRS.Name, metav1.GetOptions{})
		if getErr != nil {
			return nil, getErr
		}
		if ref := metav1.GetControllerOf(rs); ref != nil && ref.UID == d.UID && EqualIgnoreHash(&d.Spec.Template, &rs.Spec.Template) {
			created, err = rs, nil
			break
		}
		// A hash collision: another template has this name. Bump
		// collisionCount, which changes the hash, and sync again.
		if d.Status.CollisionCount == nil {
			d.Status.CollisionCount = new(int32)
		}
		*d.Status.CollisionCount++
		if dErr := c.writeDeployment(ctx, d); dErr == nil {
			c.log.Info("deployment: pod-template-hash collision, bumped collisionCount", "deployment", d.Namespace+"/"+d.Name, "collisionCount", *d.Status.CollisionCount)
		}
		return nil, err
	case err != nil:
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil, err
		}
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", newRS.Name, err)
		if hasProgressDeadline(d) {
			setDeploymentCondition(&d.Status, *newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, reasonFailedRSCreate, msg, c.now()))
			_ = c.writeDeployment(ctx, d)
		}
		c.rec.Event(d, corev1.EventTypeWarning, reasonFailedRSCreate, msg)
		return nil, err
	}
	if !alreadyExists && n > 0 {
		c.rec.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d", created.Name, n)
	}
	metaChanged := setDeploymentRevision(d, newRevision)
	statusChanged := false
	if !alreadyExists && hasProgressDeadline(d) {
		msg := fmt.Sprintf("Created new replica set %q", created.Name)
		setDeploymentCondition(&d.Status, *newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonNewReplicaSetCreated, msg, c.now()))
		statusChanged = true
	}
	if metaChanged || statusChanged {
		err = c.writeDeployment(ctx, d)
	}
	return created, err
}

// scale sizes the ReplicaSets proportionally on a scaling event or while
// paused: growing the new one or shrinking the old ones alone would hasten
// the rollout, and with it the share of possibly broken pods.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) error {
	replicas := desiredReplicas(d)
	if rs := findActiveOrLatest(newRS, oldRSs); rs != nil {
		if replicasOf(rs) == replicas {
			return nil
		}
		_, err := c.scaleReplicaSetAndRecordEvent(ctx, rs, replicas, d)
		return err
	}
	// A saturated new ReplicaSet: the old ones go to zero.
	if isSaturated(d, newRS) {
		for _, old := range filterActive(oldRSs) {
			if _, err := c.scaleReplicaSetAndRecordEvent(ctx, old, 0, d); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRollingUpdate(d) {
		return nil
	}
	allRSs := filterActive(append(slices.Clone(oldRSs), newRS))
	allRSsReplicas := sumSpec(allRSs)
	allowedSize := int32(0)
	if replicas > 0 {
		allowedSize = replicas + maxSurgeOf(d)
	}
	// Replicas to add (or remove, when negative), spread over the active
	// ReplicaSets from the larger to the smaller; among equals, newer
	// first when scaling up and older first when scaling down.
	toAdd := allowedSize - allRSsReplicas
	var op string
	switch {
	case toAdd > 0:
		slices.SortStableFunc(allRSs, bySizeNewer)
		op = "up"
	case toAdd < 0:
		slices.SortStableFunc(allRSs, bySizeOlder)
		op = "down"
	}
	added := int32(0)
	sizes := make([]int32, len(allRSs))
	for i, rs := range allRSs {
		sizes[i] = replicasOf(rs)
		if toAdd != 0 {
			p := proportionOf(rs, d, toAdd, added)
			sizes[i] += p
			added += p
		}
	}
	for i, rs := range allRSs {
		// The leftover goes to the largest.
		if i == 0 && toAdd != 0 {
			sizes[i] = max(sizes[i]+toAdd-added, 0)
		}
		if _, err := c.scaleReplicaSet(ctx, rs, sizes[i], d, op); err != nil {
			return err
		}
	}
	return nil
}

func (c *Controller) scaleReplicaSetAndRecordEvent(ctx context.Context, rs *appsv1.ReplicaSet, newScale int32, d *appsv1.Deployment) (bool, error) {
	if replicasOf(rs) == newScale {
		return false, nil
	}
	op := "down"
	if replicasOf(rs) < newScale {
		op = "up"
	}
	return c.scaleReplicaSet(ctx, rs, newScale, d, op)
}

// scaleReplicaSet sets rs's replicas and replicas annotations; rs is
// refreshed in place from the answer.
func (c *Controller) scaleReplicaSet(ctx context.Context, rs *appsv1.ReplicaSet, newScale int32, d *appsv1.Deployment, op string) (bool, error) {
	sizeNeedsUpdate := replicasOf(rs) != newScale
	desired, maxReplicas := desiredReplicas(d), desiredReplicas(d)+maxSurgeOf(d)
	if !sizeNeedsUpdate && !replicasAnnotationsNeedUpdate(rs, desired, maxReplicas) {
		return false, nil
	}
	oldScale := replicasOf(rs)
	cp := rs.DeepCopy()
	cp.Spec.Replicas = &newScale
	setReplicasAnnotations(cp, desired, maxReplicas)
	out, err := c.deps.Client.AppsV1().ReplicaSets(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return false, err
	}
	c.wroteRS.Note(out.ResourceVersion)
	*rs = *out
	if sizeNeedsUpdate {
		c.rec.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d", op, rs.Name, oldScale, newScale)
	}
	return sizeNeedsUpdate, nil
}

// cleanupDeployment deletes the oldest old ReplicaSets beyond
// revisionHistoryLimit, among those fully scaled down.
func (c *Controller) cleanupDeployment(ctx context.Context, oldRSs []*appsv1.ReplicaSet, d *appsv1.Deployment) error {
	if !hasRevisionHistoryLimit(d) {
		return nil
	}
	var cleanable []*appsv1.ReplicaSet
	for _, rs := range oldRSs {
		if rs != nil && rs.DeletionTimestamp == nil {
			cleanable = append(cleanable, rs)
		}
	}
	diff := len(cleanable) - int(*d.Spec.RevisionHistoryLimit)
	if diff <= 0 {
		return nil
	}
	slices.SortStableFunc(cleanable, byRevision)
	for _, rs := range cleanable[:diff] {
		if rs.Status.Replicas != 0 || replicasOf(rs) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		uid := rs.UID
		err := c.deps.Client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if err == nil {
			c.log.Debug("deployment: deleted old replicaset", "deployment", d.Namespace+"/"+d.Name, "replicaset", rs.Name)
		}
	}
	return nil
}

// syncDeploymentStatus writes the status computed from the ReplicaSets
// when it differs from d's.
func (c *Controller) syncDeploymentStatus(ctx context.Context, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) error {
	s := c.calculateStatus(allRSs, newRS, d)
	if apiequality.Semantic.DeepEqual(d.Status, s) {
		return nil
	}
	d.Status = s
	return c.writeDeployment(ctx, d)
}

// calculateStatus is the status the ReplicaSets imply, with d's
// conditions and the Available condition brought up to date.
func (c *Controller) calculateStatus(allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) appsv1.DeploymentStatus {
	var live []*appsv1.ReplicaSet
	for _, rs := range allRSs {
		if rs != nil {
			live = append(live, rs)
		}
	}
	available := sumStatus(live, availableOf)
	unavailable := max(sumSpec(live)-available, 0)
	var updated int32
	if newRS != nil {
		updated = newRS.Status.Replicas
	}
	s := appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            sumStatus(live, actual),
		UpdatedReplicas:     updated,
		ReadyReplicas:       sumStatus(live, readyOf),
		AvailableReplicas:   available,
		UnavailableReplicas: unavailable,
		TerminatingReplicas: terminating(live),
		CollisionCount:      d.Status.CollisionCount,
	}
	s.Conditions = append(s.Conditions, d.Status.Conditions...)
	if available >= desiredReplicas(d)-maxUnavailableOf(d) {
		setDeploymentCondition(&s, *newDeploymentCondition(appsv1.DeploymentAvailable, corev1.ConditionTrue, reasonMinimumAvailable, "Deployment has minimum availability.", c.now()))
	} else {
		setDeploymentCondition(&s, *newDeploymentCondition(appsv1.DeploymentAvailable, corev1.ConditionFalse, reasonMinimumUnavailable, "Deployment does not have minimum availability.", c.now()))
	}
	return s
}

// isScalingEvent: an active ReplicaSet was sized for another
// spec.replicas than d's.
func (c *Controller) isScalingEvent(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (bool, error) {
	newRS, oldRSs, err := c.getAllReplicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return false, err
	}
	for _, rs := range filterActive(append(oldRSs, newRS)) {
		if desired, ok := intAnnotation(rs, DesiredReplicasAnnotation); ok && desired != desiredReplicas(d) {
			return true, nil
		}
	}
	return false, nil
}

// podsByReplicaSet counts, per ReplicaSet uid, the pods of d's
// ReplicaSets that are not in a terminal phase.
func (c *Controller) podsByReplicaSet(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) map[types.UID]int {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil
	}
	uids := map[types.UID]bool{}
	for _, rs := range rsList {
		uids[rs.UID] = true
	}
	out := map[types.UID]int{}
	for _, p := range c.followers().pods.ByIndex(follow.IndexByNamespace, d.Namespace) {
		if !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		ref := metav1.GetControllerOf(p)
		if ref == nil || !uids[ref.UID] || podTerminal(p) {
			continue
		}
		out[ref.UID]++
	}
	return out
}
