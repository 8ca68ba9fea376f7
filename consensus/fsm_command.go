package consensus

import (
	"bytes"
	"encoding/json"
	"fmt"
)

func init() { registerCommand(msgCommand, decodeCommandEntry) }

// encodeCommand builds the raft log entry of cmd. An op or subresource
// this binary does not know never reaches the log: a replica would
// take it for a newer binary's (applyCommandEntry).
func encodeCommand(cmd *Command) ([]byte, error) {
	if err := knownToThisBinary(cmd); err != nil {
		return nil, fmt.Errorf("%w: encode command: %v", ErrInvalid, err)
	}
	body, err := json.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("%w: encode command: %v", ErrInvalid, err)
	}
	return encodeEntry(msgCommand, body), nil
}

// decodeCommandEntry decodes strictly: a field this binary does not know
// may change what the command does (say, a newer leader's
// annotationsWithStatus), and skipping it would make this replica
// diverge from the others. So may an Op or Subresource value it does not
// know. Such an entry stops this node instead (the FSM must decide the
// same on every replica, or not at all). A leader writes new fields and
// values only once every server knows them (features.go): meeting one
// means this node was not upgraded with the others.
func decodeCommandEntry(index uint64, body []byte) *Command {
	var cmd Command
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cmd); err != nil {
		panic(newerEntry(index, fmt.Sprintf("does not decode as a command (%v)", err)))
	}
	if err := knownToThisBinary(&cmd); err != nil {
		panic(newerEntry(index, err.Error()))
	}
	return &cmd
}

// knownToThisBinary checks that cmd's enumerated values are ones this
// binary defines. Other invalid commands are the store's logical errors
// (ErrInvalid), decided alike on every replica.
func knownToThisBinary(cmd *Command) error {
	switch {
	case cmd.Op != OpCreate && cmd.Op != OpUpdate && cmd.Op != OpDelete:
		return fmt.Errorf("has op %d, unknown to this binary", cmd.Op)
	case cmd.Subresource != SubresourceNone && cmd.Subresource != SubresourceStatus:
		return fmt.Errorf("has subresource %q, unknown to this binary", cmd.Subresource)
	}
	return nil
}
