package apiserver

import (
	"bytes"
	"net/http"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/shoal-project/shoal/node/apiserver/registry"
	"github.com/shoal-project/shoal/node/apiserver/wire"
)

// protobufMediaType is Kubernetes' protobuf encoding.
const protobufMediaType = "application/vnd.kubernetes.protobuf"

// protobufEncoder encodes typed objects in Kubernetes' protobuf envelope.
var protobufEncoder = func() runtime.Encoder {
	info, ok := runtime.SerializerInfoForMediaType(laxCodecs.SupportedMediaTypes(), protobufMediaType)
	if !ok {
		panic("apiserver: no protobuf serializer")
	}
	return info.Serializer
}()

// protoMarshaler is what the protobuf serializer needs of a typed object.
type protoMarshaler interface {
	Marshal() ([]byte, error)
}

// writeObject answers with one object of kind k, raw being its JSON as
// clients see it: in protobuf when the client prefers it and k has a
// protobuf form, as kube-apiserver does (client-go's typed clients ask
// for it first, and decoding protobuf costs them a fraction of JSON),
// else in JSON. typed, when not nil, is raw's object already typed (a
// create's): decoding raw again would cost more than the client saves.
func (s *Server) writeObject(w http.ResponseWriter, r *http.Request, k *registry.Kind, code int, raw []byte, typed runtime.Object) {
	if wire.WantsProtobuf(r) {
		if b, ok := protobufOf(k, raw, typed); ok {
			w.Header().Set("Content-Type", protobufMediaType)
			w.WriteHeader(code)
			_, _ = w.Write(b)
			return
		}
	}
	wire.WriteRawJSON(w, code, raw)
}

// protobufOf encodes the JSON object raw of kind k in protobuf; ok is
// false when k has no protobuf form or raw does not convert.
func protobufOf(k *registry.Kind, raw []byte, typed runtime.Object) ([]byte, bool) {
	probe := typed
	if probe == nil {
		probe = k.New()
	}
	if _, ok := probe.(protoMarshaler); !ok {
		return nil, false
	}
	obj, err := typedOr(k, raw, typed)
	if err != nil {
		return nil, false
	}
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if err := protobufEncoder.Encode(obj, &buf); err != nil {
		return nil, false
	}
	return buf.Bytes(), true
}

// typedOr returns typed when given, else raw decoded as an object of
// kind k.
func typedOr(k *registry.Kind, raw []byte, typed runtime.Object) (runtime.Object, error) {
	if typed == nil {
		return decodeStored(k, raw)
	}
	typed.GetObjectKind().SetGroupVersionKind(k.GVK())
	return typed, nil
}
