package preflight

import (
	"errors"
	"fmt"
	"strings"
)

// Check is one named check. Run returns a note for a passing check that
// did something worth telling (an empty note for most), or the error
// that says what is wrong and what to do.
type Check struct {
	Name string
	Run  func() (note string, err error)
	// Changes is set on a check that may change the host to pass (IP
	// forwarding); its note then says what it did, for the log.
	Changes bool
}

// Result is what one check found.
type Result struct {
	Name string
	Note string
	Err  error
	// Changed: the check changed the host to pass, and Note says how.
	Changed bool
}

// String is the check's line: "[preflight] NAME: ok", with its note, or
// its error.
func (r Result) String() string {
	switch {
	case r.Err != nil:
		return fmt.Sprintf("[preflight] %s: %v", r.Name, r.Err)
	case r.Note != "":
		return fmt.Sprintf("[preflight] %s: ok (%s)", r.Name, r.Note)
	default:
		return fmt.Sprintf("[preflight] %s: ok", r.Name)
	}
}

// Run runs every check, in order, failed or not, so that one start says
// everything that is wrong.
func Run(checks []Check) []Result {
	out := make([]Result, 0, len(checks))
	for _, c := range checks {
		note, err := c.Run()
		out = append(out, Result{Name: c.Name, Note: note, Err: err, Changed: c.Changes && err == nil && note != ""})
	}
	return out
}

// Failed is nil when every check passed, else an error listing each
// failed check on its own line.
func Failed(results []Result) error {
	var lines []string
	for _, r := range results {
		if r.Err != nil {
			lines = append(lines, r.String())
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return errors.New("[preflight] some checks failed:\n\t" + strings.Join(lines, "\n\t"))
}
