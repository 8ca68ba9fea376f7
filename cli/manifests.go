package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// manifest is one object read from a file, with the file's name for error
// messages ("STDIN" for -).
type manifest struct {
	obj    *unstructured.Unstructured
	source string
}

// manifestExts are the files a directory contributes, as with kubectl.
var manifestExts = map[string]bool{".yaml": true, ".yml": true, ".json": true}

// readManifests reads every object of every -f argument, in order: files,
// directories (their .yaml/.yml/.json files; subdirectories with
// recursive), http(s) URLs and "-" for stdin. Multi-document YAML, JSON
// streams and List kinds are split into objects.
func readManifests(paths []string, recursive bool, stdin io.Reader) ([]manifest, error) {
	if len(paths) == 0 {
		return nil, errors.New("must specify one of -f and -k")
	}
	var out []manifest
	for _, p := range paths {
		switch {
		case p == "-":
			objs, err := decodeManifests(stdin, "STDIN")
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		case strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://"):
			objs, err := readURL(p)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		default:
			files, err := manifestFiles(p, recursive)
			if err != nil {
				return nil, err
			}
			for _, f := range files {
				objs, err := readFile(f)
				if err != nil {
					return nil, err
				}
				out = append(out, objs...)
			}
		}
	}
	return out, nil
}

func manifestFiles(path string, recursive bool) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the path %q does not exist", path)
		}
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != path && !recursive {
				return filepath.SkipDir
			}
			return nil
		}
		if manifestExts[filepath.Ext(p)] {
			files = append(files, p)
		}
		return nil
	})
	return files, err
}

func readFile(path string) ([]manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return decodeManifests(f, path)
}

func readURL(u string) ([]manifest, error) {
	resp, err := http.Get(u)
	if err != nil {
		return nil, fmt.Errorf("unable to read URL %q: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("unable to read URL %q, server reported %s", u, resp.Status)
	}
	return decodeManifests(resp.Body, u)
}

// decodeManifests splits a YAML or JSON stream into objects.
func decodeManifests(r io.Reader, source string) ([]manifest, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	var out []manifest
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("error parsing %s: %w", source, err)
		}
		if t := bytes.TrimSpace(raw); len(t) == 0 || bytes.Equal(t, []byte("null")) {
			continue // an empty document: a comment, a trailing "---"
		}
		// utiljson keeps whole numbers as int64, as unstructured expects.
		var m map[string]interface{}
		if err := utiljson.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("error parsing %s: %w", source, err)
		}
		if len(m) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{Object: m}
		if err := checkTypeMeta(obj, source); err != nil {
			return nil, err
		}
		if !obj.IsList() {
			out = append(out, manifest{obj: obj, source: source})
			continue
		}
		list, err := obj.ToList()
		if err != nil {
			return nil, fmt.Errorf("error parsing %s: %w", source, err)
		}
		for i := range list.Items {
			item := &list.Items[i]
			if err := checkTypeMeta(item, source); err != nil {
				return nil, err
			}
			out = append(out, manifest{obj: item, source: source})
		}
	}
}

func checkTypeMeta(obj *unstructured.Unstructured, source string) error {
	switch {
	case obj.GetKind() == "":
		return fmt.Errorf("error validating %q: error validating data: kind not set", source)
	case obj.GetAPIVersion() == "":
		return fmt.Errorf("error validating %q: error validating data: apiVersion not set", source)
	}
	return nil
}
