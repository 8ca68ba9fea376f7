package apiserver

import (
	"encoding/json"
	"net/http"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/shoal-project/shoal/node/apiserver/registry"
	"github.com/shoal-project/shoal/node/apiserver/wire"
)

var defaultColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name must be unique within a namespace."},
	{Name: "Created At", Type: "date", Description: "CreationTimestamp is a timestamp representing the server time when this object was created."},
}

// buildTable renders objects as a Table with the kind's columns.
// includeObject is None, Metadata (the default) or Object.
func (s *Server) buildTable(k *registry.Kind, items []*storedObject, includeObject string) (*metav1.Table, error) {
	cols := k.Columns
	if cols == nil {
		cols = defaultColumns
	}
	t := &metav1.Table{
		TypeMeta:          metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/v1"},
		ColumnDefinitions: cols,
		Rows:              make([]metav1.TableRow, 0, len(items)),
	}
	now := s.now()
	for _, it := range items {
		typed, err := it.decode(k)
		if err != nil {
			return nil, internalError(err)
		}
		var cells []interface{}
		if k.Row != nil {
			cells = k.Row(typed, now)
		} else {
			m := typed.(metav1.ObjectMetaAccessor).GetObjectMeta()
			cells = []interface{}{m.GetName(), m.GetCreationTimestamp().UTC().Format("2006-01-02T15:04:05Z")}
		}
		row := metav1.TableRow{Cells: cells}
		switch includeObject {
		case "None":
		case "Object":
			row.Object = runtime.RawExtension{Raw: it.obj.Raw}
		default:
			meta := typed.(metav1.ObjectMetaAccessor).GetObjectMeta().(*metav1.ObjectMeta)
			pom := metav1.PartialObjectMetadata{
				TypeMeta:   metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1"},
				ObjectMeta: *meta,
			}
			raw, err := json.Marshal(&pom)
			if err != nil {
				return nil, internalError(err)
			}
			row.Object = runtime.RawExtension{Raw: raw}
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}

func (s *Server) writeTable(w http.ResponseWriter, r *http.Request, k *registry.Kind, items []*storedObject, rv uint64, cont string) error {
	t, err := s.buildTable(k, items, r.URL.Query().Get("includeObject"))
	if err != nil {
		return err
	}
	t.ResourceVersion = strconv.FormatUint(rv, 10)
	t.Continue = cont
	wire.WriteJSON(w, http.StatusOK, t)
	return nil
}
