package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestFormatError(t *testing.T) {
	notFound := apierrors.NewNotFound(schema.GroupResource{Group: "apps", Resource: "deployments"}, "x")
	for _, tc := range []struct {
		err  error
		want string
	}{
		{notFound, `Error from server (NotFound): deployments.apps "x" not found`},
		// Wrapping does not hide the Status, nor garble its message.
		{fmt.Errorf("get: %w", notFound), `Error from server (NotFound): deployments.apps "x" not found`},
		{withSource("creating", "app.yaml", notFound), `Error from server (NotFound): error when creating "app.yaml": deployments.apps "x" not found`},
		{withSource("creating", "app.yaml", errors.New("boom")), `error: error when creating "app.yaml": boom`},
		{apierrors.NewUnauthorized("bad token"), "error: You must be logged in to the server (bad token)"},
		{errors.New("plain"), "error: plain"},
		{fmt.Errorf("discovery: %w", &url.Error{Op: "Get", URL: "https://10.0.0.1:6443/api?timeout=32s", Err: syscall.ECONNREFUSED}),
			"The connection to the server 10.0.0.1:6443 was refused - did you specify the right host or port?"},
	} {
		if got := FormatError(tc.err); got != tc.want {
			t.Errorf("FormatError(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestExitCode(t *testing.T) {
	var buf bytes.Buffer
	for _, tc := range []struct {
		err   error
		code  int
		print string
	}{
		{nil, 0, ""},
		{context.Canceled, 0, ""},
		{fmt.Errorf("run: %w", context.Canceled), 0, ""},
		{ErrReported, 1, ""},
		{errors.New("bad"), 1, "error: bad\n"},
	} {
		buf.Reset()
		if got := ExitCode(tc.err, &buf); got != tc.code || buf.String() != tc.print {
			t.Errorf("ExitCode(%v) = %d printing %q, want %d printing %q", tc.err, got, buf.String(), tc.code, tc.print)
		}
	}
}
