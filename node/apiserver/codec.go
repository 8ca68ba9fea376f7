package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/shoal-project/shoal/node/apiserver/registry"
)

var (
	strictCodecs = serializer.NewCodecFactory(registry.Scheme(), serializer.EnableStrict)
	laxCodecs    = serializer.NewCodecFactory(registry.Scheme())
)

// readBody reads the request body up to the API's size limit.
func readBody(r *http.Request) ([]byte, error) {
	var b []byte
	var err error
	if n := r.ContentLength; n > 0 && n <= maxBodyBytes {
		// One allocation of the announced size, not ReadAll's doublings;
		// net/http holds the body to its Content-Length.
		b = make([]byte, n)
		_, err = io.ReadFull(r.Body, b)
	} else {
		b, err = io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	}
	if err != nil {
		return nil, badRequest("read request body: %v", err)
	}
	if len(b) > maxBodyBytes {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d bytes", maxBodyBytes))
	}
	return b, nil
}

// mediaType is the request's Content-Type without parameters.
func mediaType(r *http.Request) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return strings.TrimSpace(r.Header.Get("Content-Type"))
	}
	return mt
}

// decodeObject decodes a JSON, YAML or protobuf body into a new object of
// kind k, checking that apiVersion and kind (when given) name k.
func decodeObject(r *http.Request, k *registry.Kind, body []byte) (runtime.Object, error) {
	strict := r.URL.Query().Get("fieldValidation") == "Strict"
	codecs := laxCodecs
	if strict {
		codecs = strictCodecs
	}
	mt := mediaType(r)
	switch mt {
	case "", "application/json", "application/yaml", "application/vnd.kubernetes.protobuf", "*/*":
	default:
		return nil, unsupportedMediaType(mt)
	}
	if mt == "application/yaml" {
		j, err := yaml.ToJSON(body)
		if err != nil {
			return nil, badRequest("the body of the request was in an unknown format: %v", err)
		}
		body = j
	}
	if len(body) == 0 {
		return nil, badRequest("the body of the request is empty")
	}
	obj := k.New()
	gvk := k.GVK()
	var decoder runtime.Decoder
	if mt == "application/vnd.kubernetes.protobuf" {
		info, ok := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), mt)
		if !ok {
			return nil, unsupportedMediaType(mt)
		}
		decoder = info.Serializer
	} else {
		// Check the type first so that an unknown kind is a clear error
		// rather than a decoding failure.
		var tm struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := json.Unmarshal(body, &tm); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) && te.Field == "" {
				err = fmt.Errorf("expected a JSON object, got %s", te.Value)
			}
			return nil, badRequest("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf: %v", err)
		}
		if tm.APIVersion != "" && tm.APIVersion != gvk.GroupVersion().String() {
			return nil, badRequest("the API version in the data (%s) does not match the expected API version (%s)", tm.APIVersion, gvk.GroupVersion())
		}
		if tm.Kind != "" && tm.Kind != gvk.Kind {
			return nil, badRequest("the kind in the data (%s) does not match the expected kind (%s)", tm.Kind, gvk.Kind)
		}
		info, _ := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), "application/json")
		decoder = info.Serializer
	}
	out, _, err := decoder.Decode(body, &gvk, obj)
	if err != nil {
		if runtime.IsStrictDecodingError(err) {
			return nil, badRequest("%v", err)
		}
		return nil, badRequest("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf: %v", err)
	}
	if out.GetObjectKind().GroupVersionKind() != gvk && !out.GetObjectKind().GroupVersionKind().Empty() {
		return nil, badRequest("the API version in the data (%s) does not match the expected API version (%s)", out.GetObjectKind().GroupVersionKind().GroupVersion(), gvk.GroupVersion())
	}
	out.GetObjectKind().SetGroupVersionKind(gvk)
	return out, nil
}

// decodeInto decodes a body that is not an object of a served kind (the
// DeleteOptions of a delete, the Scale of a scale update) into into. client-go's
// typed clients send these as protobuf; everyone else sends JSON or YAML.
func decodeInto(r *http.Request, body []byte, into runtime.Object) error {
	what := fmt.Sprintf("%T", into)
	if i := strings.LastIndexByte(what, '.'); i >= 0 {
		what = what[i+1:]
	}
	switch mt := mediaType(r); mt {
	case "application/vnd.kubernetes.protobuf":
		info, _ := runtime.SerializerInfoForMediaType(laxCodecs.SupportedMediaTypes(), mt)
		out, _, err := info.Serializer.Decode(body, nil, into)
		if err != nil {
			return badRequest("invalid %s: %v", what, err)
		}
		if out != into {
			return badRequest("invalid %s: the body holds a %s", what, out.GetObjectKind().GroupVersionKind().Kind)
		}
		return nil
	case "application/yaml":
		j, err := yaml.ToJSON(body)
		if err != nil {
			return badRequest("invalid %s: %v", what, err)
		}
		body = j
	}
	if err := json.Unmarshal(body, into); err != nil {
		return badRequest("invalid %s: %v", what, err)
	}
	return nil
}

// decodeStored decodes an object the store holds (always JSON of kind k).
func decodeStored(k *registry.Kind, raw []byte) (runtime.Object, error) {
	obj := k.New()
	if err := json.Unmarshal(raw, obj); err != nil {
		return nil, fmt.Errorf("decode stored %s: %w", k.GroupResource(), err)
	}
	obj.GetObjectKind().SetGroupVersionKind(k.GVK())
	return obj, nil
}

// encodeObject is the JSON the store keeps and clients receive.
func encodeObject(k *registry.Kind, obj runtime.Object) ([]byte, error) {
	obj.GetObjectKind().SetGroupVersionKind(k.GVK())
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", k.GroupResource(), err)
	}
	return b, nil
}
