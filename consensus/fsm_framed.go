package consensus

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// msgFramed (since v0.3.0, FeatureFramedCommands) is a Command whose
// object travels as it is:
//
//	type byte | uvarint n | n bytes: the Command without Object (fsm_framed_header.go) | the object's JSON
//
// A msgCommand entry holds the object inside the command's JSON, so every
// step that encodes or decodes the command (the proposer, the forward to
// the leader and back, the FSM on every replica) scanned the whole object
// again, and its create re-encoded every top-level field. A framed entry
// is read by decoding a binary header of a hundred bytes; its create
// stamps the object's metadata in place (object_stamp.go).
const msgFramed msgType = 3

func init() { registerCommand(msgFramed, decodeFramedEntry) }

// encodeFramed builds the msgFramed entry of cmd. Like encodeCommand
// (whose json.Marshal checks the object), it refuses an object that is
// not valid JSON: the FSM's create keeps the object's bytes without
// checking every literal (object_stamp.go), and an object stored invalid
// could be neither updated nor deleted, and would fail every snapshot.
func encodeFramed(cmd *Command) ([]byte, error) {
	if err := knownToThisBinary(cmd); err != nil {
		return nil, fmt.Errorf("%w: encode command: %v", ErrInvalid, err)
	}
	if len(cmd.Object) > 0 && !json.Valid(cmd.Object) {
		return nil, fmt.Errorf("%w: encode command: object is not valid JSON", ErrInvalid)
	}
	hb := appendHeader(make([]byte, 0, 128), cmd)
	buf := make([]byte, 0, 1+binary.MaxVarintLen64+len(hb)+len(cmd.Object))
	buf = append(buf, byte(msgFramed))
	buf = binary.AppendUvarint(buf, uint64(len(hb)))
	buf = append(buf, hb...)
	return append(buf, cmd.Object...), nil
}

// decodeFramed reads a msgFramed body (after the type byte). The
// command's Object shares body's memory. The header is decoded strictly,
// as a msgCommand is: a field this binary does not know may change what
// the command does.
func decodeFramed(body []byte) (*Command, error) {
	n, w := binary.Uvarint(body)
	if w <= 0 || n > uint64(len(body)-w) {
		return nil, fmt.Errorf("framed command: bad header length")
	}
	cmd, err := parseHeader(body[w : w+int(n)])
	if err != nil {
		return nil, err
	}
	if err := knownToThisBinary(cmd); err != nil {
		return nil, err
	}
	if rest := body[w+int(n):]; len(rest) > 0 {
		cmd.Object = rest
	}
	cmd.stampInPlace = true
	return cmd, nil
}

// decodeFramedEntry decodes a msgFramed entry; like decodeCommandEntry
// it stops the node on one it cannot read.
func decodeFramedEntry(index uint64, body []byte) *Command {
	cmd, err := decodeFramed(body)
	if err != nil {
		panic(newerEntry(index, fmt.Sprintf("does not decode as a framed command (%v)", err)))
	}
	return cmd
}
