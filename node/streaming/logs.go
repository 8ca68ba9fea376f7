package streaming

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/shoal-project/shoal/node/apiserver/wire"
	"github.com/shoal-project/shoal/runtime"
)

// logRequest is one parsed log query.
type logRequest struct {
	container string
	previous  bool
	opts      runtime.LogOptions
}

// parseLogQuery reads the PodLogOptions query parameters and validates them
// as kube-apiserver does.
func parseLogQuery(name string, q url.Values, now time.Time) (logRequest, error) {
	lr := logRequest{container: q.Get("container")}
	var errs field.ErrorList
	var badParams []string
	boolParam := func(key string) bool {
		v := q.Get(key)
		if v == "" {
			return false
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			badParams = append(badParams, key)
		}
		return b
	}
	intParam := func(key string) *int64 {
		v := q.Get(key)
		if v == "" {
			return nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			badParams = append(badParams, key)
			return nil
		}
		return &n
	}
	lr.opts.Follow = boolParam("follow")
	lr.previous = boolParam("previous")
	lr.opts.Timestamps = boolParam("timestamps")
	if n := intParam("tailLines"); n != nil {
		if *n < 0 {
			errs = append(errs, field.Invalid(field.NewPath("tailLines"), *n, "must be greater than or equal to 0"))
		}
		lr.opts.TailLines = n
	}
	if n := intParam("limitBytes"); n != nil {
		if *n < 1 {
			errs = append(errs, field.Invalid(field.NewPath("limitBytes"), *n, "must be greater than 0"))
		}
		lr.opts.LimitBytes = n
	}
	since := intParam("sinceSeconds")
	if since != nil {
		if *since < 1 {
			errs = append(errs, field.Invalid(field.NewPath("sinceSeconds"), *since, "must be greater than 0"))
		}
		lr.opts.Since = now.Add(-time.Duration(*since) * time.Second)
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			badParams = append(badParams, "sinceTime")
		}
		if since != nil {
			errs = append(errs, field.Forbidden(field.NewPath(""), "at most one of `sinceTime` or `sinceSeconds` may be specified"))
		}
		lr.opts.Since = t
	}
	if len(badParams) > 0 {
		return lr, apierrors.NewBadRequest(fmt.Sprintf("invalid query parameters %v", badParams))
	}
	if len(errs) > 0 {
		return lr, apierrors.NewInvalid(schema.GroupKind{Kind: "PodLogOptions"}, name, errs)
	}
	return lr, nil
}

// serveLog answers GET .../{namespace}/{name}/log with the container's
// output as text/plain.
func (s *NodeServer) serveLog(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	lr, err := parseLogQuery(name, r.URL.Query(), s.cfg.Now())
	if err != nil {
		wire.WriteStatus(w, err)
		return
	}
	id, err := s.locate(ns, name, lr.container, lr.previous)
	if err != nil {
		wire.WriteStatus(w, err)
		return
	}
	lw := &logWriter{w: w, rc: http.NewResponseController(w), flush: lr.opts.Follow, remaining: -1}
	if lr.opts.LimitBytes != nil {
		lw.remaining = *lr.opts.LimitBytes
	}
	if lr.opts.Follow {
		// Answer at once: a client following a silent container must not
		// wait (or time out) for the response headers.
		lw.start()
	}
	err = s.cfg.Runtime.Logs(r.Context(), id, lr.opts, lw)
	switch {
	case err == nil, errors.Is(err, errLimitReached), errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		lw.start() // an empty log is still a 200
	case !lw.started:
		wire.WriteStatus(w, s.runtimeError(err, name, lr.container, lr.previous))
	default:
		s.log.Debug("log stream ended with an error", "namespace", ns, "pod", name, "container", lr.container, "error", err)
	}
}

// runtimeError translates an error of the runtime about a container.
func (s *NodeServer) runtimeError(err error, pod, container string, previous bool) error {
	var st apierrors.APIStatus
	switch {
	case errors.As(err, &st):
		return err
	case errors.Is(err, runtime.ErrNotFound) && previous:
		return apierrors.NewBadRequest(fmt.Sprintf("previous terminated container %q in pod %q not found", container, pod))
	case errors.Is(err, runtime.ErrNotFound):
		return apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is not available", container, pod))
	case errors.Is(err, runtime.ErrNotRunning):
		return apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is not running", container, pod))
	}
	return apierrors.NewInternalError(err)
}

// errLimitReached stops a runtime's log copy at limitBytes.
var errLimitReached = errors.New("limitBytes reached")

// logWriter writes log bytes to the response: it sends the 200 header on
// the first write, flushes every write when following, and cuts the output
// at limitBytes (whether or not the runtime honours it).
type logWriter struct {
	mu        sync.Mutex
	w         http.ResponseWriter
	rc        *http.ResponseController
	flush     bool
	started   bool
	remaining int64 // < 0: no limit
}

func (lw *logWriter) start() {
	if lw.started {
		return
	}
	lw.started = true
	h := lw.w.Header()
	h.Set("Content-Type", "text/plain")
	h.Set("X-Content-Type-Options", "nosniff")
	lw.w.WriteHeader(http.StatusOK)
	if lw.flush {
		lw.rc.Flush()
	}
}

func (lw *logWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.remaining == 0 {
		return 0, errLimitReached
	}
	var cut bool
	if lw.remaining > 0 && int64(len(p)) > lw.remaining {
		p, cut = p[:lw.remaining], true
	}
	lw.start()
	n, err := lw.w.Write(p)
	if lw.remaining > 0 {
		lw.remaining -= int64(n)
	}
	if err != nil {
		return n, err
	}
	if lw.flush {
		if err := lw.rc.Flush(); err != nil {
			return n, err
		}
	}
	if cut {
		return n, errLimitReached
	}
	return n, nil
}
