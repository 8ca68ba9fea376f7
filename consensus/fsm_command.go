package consensus

import (
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

func applyCommandEntry(s *Store, index uint64, body []byte) ApplyResult {
	var cmd Command
	if err := json.Unmarshal(body, &cmd); err != nil {
		panic(fmt.Sprintf("consensus: corrupt command at index %d: %v", index, err))
	}
	obj, err := s.Apply(index, &cmd)
	return ApplyResult{Object: obj, Err: err}
}
