package cli

import (
	"context"
	"errors"
	"fmt"

	ucli "github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/jsonmergepatch"
	"k8s.io/apimachinery/pkg/util/mergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes/scheme"
	kubectlutil "k8s.io/kubectl/pkg/util"
)

// applyFieldManager is the field manager kubectl's client-side apply uses.
const applyFieldManager = "kubectl-client-side-apply"

// applyOptions are one invocation's `shoal apply` flags.
type applyOptions struct {
	Files     []string
	Recursive bool
}

// Validate checks the flags.
func (o *applyOptions) Validate() error {
	if len(o.Files) == 0 {
		return errors.New("must specify one of -f and -k")
	}
	return nil
}

func filenameFlags(usage string) []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringSliceFlag{Name: "filename", Aliases: []string{"f"}, Usage: usage},
		&ucli.BoolFlag{Name: "recursive", Aliases: []string{"R"}, Usage: "process the directories of -f recursively"},
	}
}

func newApplyCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:      "apply",
		Usage:     "create or update objects from manifests, like kubectl's client-side apply",
		ArgsUsage: " ",
		Flags:     append(filenameFlags("manifest `FILE`, directory, URL or - for stdin (repeatable)"), clientFlags()...),
		Action: func(c *ucli.Context) error {
			o := applyOptions{Files: c.StringSlice("filename"), Recursive: c.Bool("recursive")}
			if err := o.Validate(); err != nil {
				return err
			}
			cl, err := newClients(c, deps)
			if err != nil {
				return err
			}
			return cl.apply(c.Context, o)
		},
	}
}

// apply applies every object and prints one line for each; an object that
// fails is reported and the others still go ahead.
func (cl *clients) apply(ctx context.Context, o applyOptions) error {
	manifests, err := readManifests(o.Files, o.Recursive, cl.in)
	if err != nil {
		return err
	}
	if len(manifests) == 0 {
		return errors.New("no objects passed to apply")
	}
	failed := false
	for _, m := range manifests {
		line, err := cl.applyOne(ctx, m)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			reportErr(cl.errw, err)
			failed = true
			continue
		}
		fmt.Fprintln(cl.out, line)
	}
	if failed {
		return ErrReported
	}
	return nil
}

// applyOne creates the object if it does not exist, else patches it with
// the three-way patch between its last applied configuration, the manifest
// and the live object. It returns the line to print.
func (cl *clients) applyOne(ctx context.Context, m manifest) (string, error) {
	obj := m.obj
	gvk := obj.GroupVersionKind()
	mapping, err := cl.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return "", fmt.Errorf("resource mapping not found for name: %q namespace: %q from %q: %w\nensure CRDs are installed first",
			obj.GetName(), obj.GetNamespace(), m.source, err)
	}
	name := obj.GetName()
	if name == "" {
		return "", withSource("retrieving current configuration of", m.source,
			fmt.Errorf("%s: resource name may not be empty", gvk.Kind))
	}
	ns := ""
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ns = obj.GetNamespace()
		switch {
		case ns == "":
			ns = cl.namespace
			obj.SetNamespace(ns)
		case cl.explicitNS && ns != cl.namespace:
			return "", fmt.Errorf("the namespace from the provided object %q does not match the namespace %q. You must pass '--namespace=%s' to perform this operation", ns, cl.namespace, ns)
		}
	}
	ri := cl.resourceInterface(mapping, ns)
	display := kindString(mapping.GroupVersionKind.GroupKind()) + "/" + name

	current, err := ri.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if err := kubectlutil.CreateApplyAnnotation(obj, unstructured.UnstructuredJSONScheme); err != nil {
			return "", withSource("creating", m.source, err)
		}
		if _, err := ri.Create(ctx, obj, metav1.CreateOptions{FieldManager: applyFieldManager}); err != nil {
			return "", withSource("creating", m.source, err)
		}
		return display + " created", nil
	}
	if err != nil {
		return "", withSource("retrieving current configuration of", m.source, err)
	}
	if _, ok := current.GetAnnotations()[corev1.LastAppliedConfigAnnotation]; !ok {
		fmt.Fprintf(cl.errw, "Warning: resource %s/%s is missing the %s annotation which is required by shoal apply. shoal apply should only be used on resources created declaratively by either shoal create --save-config or shoal apply. The missing annotation will be patched automatically.\n",
			mapping.Resource.Resource, name, corev1.LastAppliedConfigAnnotation)
	}
	patch, patchType, err := threeWayPatch(obj, current, gvk)
	if err != nil {
		return "", withSource("patching", m.source, err)
	}
	if string(patch) == "{}" {
		return display + " unchanged", nil
	}
	if _, err := ri.Patch(ctx, name, patchType, patch, metav1.PatchOptions{FieldManager: applyFieldManager}); err != nil {
		return "", withSource("patching", m.source, err)
	}
	return display + " configured", nil
}

// threeWayPatch computes kubectl's client-side apply patch: from the
// last-applied annotation of current (original), the manifest with its new
// annotation (modified) and current itself. Built-in kinds get a strategic
// merge patch driven by their Go types; other kinds a JSON merge patch.
func threeWayPatch(manifest, current *unstructured.Unstructured, gvk schema.GroupVersionKind) ([]byte, types.PatchType, error) {
	modified, err := kubectlutil.GetModifiedConfiguration(manifest, true, unstructured.UnstructuredJSONScheme)
	if err != nil {
		return nil, "", fmt.Errorf("encode manifest: %w", err)
	}
	original, err := kubectlutil.GetOriginalConfiguration(current)
	if err != nil {
		return nil, "", fmt.Errorf("read last applied configuration: %w", err)
	}
	live, err := runtime.Encode(unstructured.UnstructuredJSONScheme, current)
	if err != nil {
		return nil, "", fmt.Errorf("encode live object: %w", err)
	}
	typed, err := scheme.Scheme.New(gvk)
	if runtime.IsNotRegisteredError(err) {
		preconditions := []mergepatch.PreconditionFunc{
			mergepatch.RequireKeyUnchanged("apiVersion"),
			mergepatch.RequireKeyUnchanged("kind"),
			mergepatch.RequireMetadataKeyUnchanged("name"),
		}
		patch, err := jsonmergepatch.CreateThreeWayJSONMergePatch(original, modified, live, preconditions...)
		if err != nil {
			return nil, "", err
		}
		return patch, types.MergePatchType, nil
	}
	if err != nil {
		return nil, "", err
	}
	lookup, err := strategicpatch.NewPatchMetaFromStruct(typed)
	if err != nil {
		return nil, "", err
	}
	patch, err := strategicpatch.CreateThreeWayMergePatch(original, modified, live, lookup, true)
	if err != nil {
		return nil, "", err
	}
	return patch, types.StrategicMergePatchType, nil
}
