package consensus

import (
	"bytes"
	"encoding/json"
	"fmt"
)

func init() { registerCommand(msgCommand, applyCommandEntry) }

// encodeCommand builds the raft log entry of cmd.
func encodeCommand(cmd *Command) ([]byte, error) {
	body, err := json.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("%w: encode command: %v", ErrInvalid, err)
	}
	return encodeEntry(msgCommand, body), nil
}

// applyCommandEntry decodes strictly: a field this binary does not know
// may change what the command does (say, a newer leader's
// annotationsWithStatus), and skipping it would make this replica
// diverge from the others. Such an entry stops this node instead (a
// replica that stops is safe, one that diverges is not): upgrade every
// node before a newer one leads.
func applyCommandEntry(s *Store, index uint64, body []byte) ApplyResult {
	var cmd Command
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cmd); err != nil {
		panic(fmt.Sprintf("consensus: corrupt or newer command at index %d: %v", index, err))
	}
	obj, err := s.Apply(index, &cmd)
	return ApplyResult{Object: obj, Err: err}
}
