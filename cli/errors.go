package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ErrReported means a command has already printed its errors (for example
// one per object that apply could not write) and only the exit code is left.
var ErrReported = errors.New("errors were reported")

// ExitCode prints err the way kubectl would, unless it was already reported,
// and returns the process exit code: 0 for success and for a cancelled
// context (SIGINT/SIGTERM), a remote command's own code for `exec`, 1
// otherwise.
func ExitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, context.Canceled) {
		return 0
	}
	var ec *exitCodeError
	if errors.As(err, &ec) {
		fmt.Fprintln(stderr, ec.Error())
		return ec.code
	}
	if !errors.Is(err, ErrReported) {
		fmt.Fprintln(stderr, FormatError(err))
	}
	return 1
}

// exitCodeError is a remote command's non-zero exit: `shoal exec` exits
// with the command's code, as kubectl does.
type exitCodeError struct{ code int }

func (e *exitCodeError) Error() string {
	return fmt.Sprintf("command terminated with exit code %d", e.code)
}

// FormatError renders an error as kubectl does: API Status errors as
// "Error from server (<Reason>): <message>", anything else as "error: ...".
// For a Status error the server's message is printed verbatim, without any
// wrapping added on the way up: the message already names the object.
func FormatError(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		st := status.Status()
		switch {
		case st.Reason == metav1.StatusReasonUnauthorized:
			return fmt.Sprintf("error: You must be logged in to the server (%s)", st.Message)
		case st.Reason != "":
			return fmt.Sprintf("Error from server (%s): %s", st.Reason, st.Message)
		default:
			return fmt.Sprintf("Error from server: %s", st.Message)
		}
	}
	var uerr *url.Error
	if errors.As(err, &uerr) && errors.Is(err, syscall.ECONNREFUSED) {
		host := uerr.URL
		if u, perr := url.Parse(uerr.URL); perr == nil {
			host = u.Host
		}
		return fmt.Sprintf("The connection to the server %s was refused - did you specify the right host or port?", host)
	}
	return "error: " + err.Error()
}

// withSource adds the manifest a failing object came from, as kubectl's
// AddSourceToErr does: `error when creating "app.yaml": <message>`. Status
// errors keep their reason so FormatError still says "Error from server".
func withSource(verb, source string, err error) error {
	if source == "" {
		return err
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		st := status.Status()
		st.Message = fmt.Sprintf("error when %s %q: %s", verb, source, st.Message)
		return &apierrors.StatusError{ErrStatus: st}
	}
	return fmt.Errorf("error when %s %q: %w", verb, source, err)
}

// reportErr prints one error for one object and lets the command go on.
func reportErr(w io.Writer, err error) {
	fmt.Fprintln(w, FormatError(err))
}
