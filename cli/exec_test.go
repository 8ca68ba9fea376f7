package cli

import (
	"strings"
	"testing"
)

func TestExecCommand(t *testing.T) {
	rt, ta, run := streamingApp(t, "typed\n")
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"exec", "web", "--", "ls", "-l"}, 0, "ran: ls -l\n", "err: ls -l\n"},
		{[]string{"exec", "-i", "web", "--", "cat", "exit=3"}, 3, "ran: cat exit=3\ntyped\n", "err: cat exit=3\ncommand terminated with exit code 3\n"},
		// stdin is no terminal: no TTY, as kubectl.
		{[]string{"exec", "-it", "web", "--", "sh"}, 0, "ran: sh\n", "Unable to use a TTY - input is not a terminal or the right kind of file\nerr: sh\n"},
		{[]string{"exec", "multi", "-c", "b", "--", "env"}, 0, "ran: env\n", "err: env\n"},
		{[]string{"exec", "multi", "--", "env"}, 0, "ran: env\n", "Defaulted container \"a\" out of: a, b\nerr: env\n"},
	} {
		err := run(tc.args...)
		code := ExitCode(err, &ta.stderr)
		if code != tc.code || ta.stdout.String() != tc.stdout || ta.stderr.String() != tc.stderr {
			t.Errorf("%v: exit %d stdout %q stderr %q; want %d %q %q", tc.args, code, ta.stdout.String(), ta.stderr.String(), tc.code, tc.stdout, tc.stderr)
		}
	}
	calls := rt.Execs()
	if len(calls) != 5 || calls[3].ID != "c-multi-b" || calls[4].ID != "c-multi-a" || calls[2].TTY {
		t.Errorf("exec calls %+v", calls)
	}
}

func TestExecCommandErrors(t *testing.T) {
	_, ta, run := streamingApp(t, "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"exec", "web"}, "error: you must specify at least one command for the container"},
		{[]string{"exec", "--", "ls"}, "error: you must specify at least one command for the container"}, // "ls" is the pod
		{[]string{"exec", "nope", "--", "ls"}, `Error from server (NotFound): pods "nope" not found`},
		{[]string{"exec", "done", "--", "ls"}, "error: cannot exec into a container in a completed pod; current phase is Succeeded"},
		{[]string{"exec", "multi", "-c", "z", "--", "ls"}, "error: container z is not valid for pod multi out of: a, b"},
	} {
		err := run(tc.args...)
		if code := ExitCode(err, &ta.stderr); code != 1 || !strings.Contains(ta.stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, ta.stderr.String(), tc.want)
		}
	}
}
