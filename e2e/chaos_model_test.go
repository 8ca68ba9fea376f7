package e2e

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// The chaos suite's registers are ConfigMaps. A register's state is its
// value (data.value) and its resourceVersion, the raft index of its last
// change: every change gets a larger one than any before it.

// regOpKind is what a client did to a register.
type regOpKind int

const (
	opCreate regOpKind = iota // POST the ConfigMap
	opRead                    // GET with no resourceVersion: a quorum read
	opWrite                   // merge PATCH of data.value, no precondition
	opCAS                     // PUT with metadata.resourceVersion = ExpectRV
)

func (k regOpKind) String() string {
	return [...]string{"create", "read", "write", "cas"}[k]
}

// regInput is one operation's call.
type regInput struct {
	Kind     regOpKind
	Key      string
	Value    string // what create, write and cas store
	ExpectRV uint64 // cas only
}

// regResult is what a client learnt of an operation's outcome.
type regResult int

const (
	resOK       regResult = iota // 2xx: Value and RV are the stored object's
	resConflict                  // 409: definitely not applied
	resNotFound                  // 404: definitely not applied, the object does not exist
	resUnknown                   // timeout, connection cut, 5xx: applied or not
	resFailed                    // never sent (refused dial): no effect, kept out of the history
)

func (r regResult) String() string {
	return [...]string{"ok", "conflict", "notfound", "unknown", "failed"}[r]
}

// regOutput is one operation's return.
type regOutput struct {
	Result regResult
	Value  string
	RV     uint64
}

// regState is a register as the model sees it. After a write of unknown
// outcome the new resourceVersion is not known, only that it exceeds RV:
// RVKnown is false and RV is that lower bound until a read reveals it.
type regState struct {
	Exists  bool
	Value   string
	RV      uint64
	RVKnown bool
}

func (s regState) String() string {
	switch {
	case !s.Exists:
		return "absent"
	case s.RVKnown:
		return fmt.Sprintf("%q@%d", s.Value, s.RV)
	}
	return fmt.Sprintf("%q@>%d", s.Value, s.RV)
}

// rvCouldBe says whether the register's resourceVersion may be rv.
func (s regState) rvCouldBe(rv uint64) bool {
	if s.RVKnown {
		return s.RV == rv
	}
	return rv > s.RV
}

// stepRegister lists the states a register can be in after the operation
// in/out from state s; none means the operation could not have happened.
func stepRegister(s regState, in regInput, out regOutput) []regState {
	if out.Result == resUnknown {
		// Either it never took effect, or it did with an unknown rv.
		took, ok := regState{}, false
		switch in.Kind {
		case opCreate:
			took, ok = regState{Exists: true, Value: in.Value}, !s.Exists
		case opWrite:
			took, ok = regState{Exists: true, Value: in.Value, RV: s.RV}, s.Exists
		case opCAS:
			took, ok = regState{Exists: true, Value: in.Value, RV: in.ExpectRV}, s.Exists && s.rvCouldBe(in.ExpectRV)
		}
		if ok {
			return []regState{s, took}
		}
		return []regState{s}
	}
	if out.Result == resNotFound {
		if s.Exists {
			return nil
		}
		return []regState{s}
	}
	switch in.Kind {
	case opCreate:
		switch {
		case out.Result == resOK && !s.Exists:
			return []regState{{Exists: true, Value: in.Value, RV: out.RV, RVKnown: true}}
		case out.Result == resConflict && s.Exists: // AlreadyExists
			return []regState{s}
		}
	case opRead:
		if out.Result == resOK && s.Exists && s.Value == out.Value && s.rvCouldBe(out.RV) {
			return []regState{{Exists: true, Value: out.Value, RV: out.RV, RVKnown: true}}
		}
	case opWrite:
		switch {
		case out.Result == resOK && s.Exists && out.Value == in.Value && out.RV > s.RV:
			return []regState{{Exists: true, Value: in.Value, RV: out.RV, RVKnown: true}}
		case out.Result == resConflict && s.Exists: // lost every retry: not applied
			return []regState{s}
		}
	case opCAS:
		switch {
		case out.Result == resOK && s.Exists && s.rvCouldBe(in.ExpectRV) && out.Value == in.Value && out.RV > in.ExpectRV:
			return []regState{{Exists: true, Value: in.Value, RV: out.RV, RVKnown: true}}
		case out.Result == resConflict && s.Exists && !(s.RVKnown && s.RV == in.ExpectRV):
			return []regState{s}
		}
	}
	return nil
}

// byRegister groups a history's operations by register, keys in order of
// first appearance.
func byRegister(history []porcupine.Operation) ([]string, map[string][]porcupine.Operation) {
	byKey := map[string][]porcupine.Operation{}
	var keys []string
	for _, op := range history {
		k := op.Input.(regInput).Key
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], op)
	}
	return keys, byKey
}

// registerModel is the porcupine model of the registers, one partition per
// key, every register absent at first.
func registerModel() porcupine.Model { return registerModelFrom(regState{}) }

// registerModelFrom is registerModel with every register starting in
// state init: a segment of one register's history starts where the one
// before it ended.
func registerModelFrom(init regState) porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
			keys, byKey := byRegister(history)
			var parts [][]porcupine.Operation
			for _, k := range keys {
				parts = append(parts, byKey[k])
			}
			return parts
		},
		Init: func() []any { return []any{init} },
		Step: func(state, input, output any) []any {
			var next []any
			for _, s := range stepRegister(state.(regState), input.(regInput), output.(regOutput)) {
				next = append(next, s)
			}
			return next
		},
		Equal: func(a, b any) bool { return a.(regState) == b.(regState) },
		DescribeOperation: func(input, output any) string {
			in, out := input.(regInput), output.(regOutput)
			call := fmt.Sprintf("%s %s(%q)", in.Key, in.Kind, in.Value)
			switch in.Kind {
			case opRead:
				call = fmt.Sprintf("%s read()", in.Key)
			case opCAS:
				call = fmt.Sprintf("%s cas(%d→%q)", in.Key, in.ExpectRV, in.Value)
			}
			if out.Result == resOK {
				return fmt.Sprintf("%s → %q@%d", call, out.Value, out.RV)
			}
			return fmt.Sprintf("%s → %s", call, out.Result)
		},
		DescribeState: func(state any) string { return state.(regState).String() },
	}
	return nm.ToModel()
}
