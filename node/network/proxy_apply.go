package network

import (
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// The proxy changes the kernel's table in steps (ops), each a group of
// netlink messages that must commit together, sent in batches that stay
// within the kernel's message limits: one batch is one nftables
// transaction, and a transaction of 10,000 Services' rules would not fit
// in a netlink socket's buffers. Ops are ordered so that every batch
// leaves a working table:
//
//  1. the table, the Service maps and the client sets that are new;
//  2. chains that are new or changed, each flushed and refilled in one
//     op, endpoint chains before the Service chains that jump to them;
//  3. map elements removed, changed (delete and add in one op) and added,
//     so an element never points at a chain that does not exist yet;
//  4. chains no longer wanted, those that jump before those jumped to;
//  5. client sets no longer wanted.
//
// Only what differs from what the proxy last wrote is sent, so one changed
// endpoint is a handful of messages however many Services there are.

// Batch limits. A batch's messages are sent in one sendmsg and every
// message is acknowledged, so both directions of the netlink socket must
// hold a batch; the socket buffers are raised to socketBuffer and batches
// kept well below it.
const (
	maxBatchMessages = 1000
	maxElemsPerOp    = 128
	socketBuffer     = 8 << 20
)

// unknownContent marks a chain whose rules, or an element whose target,
// the proxy has not read from the kernel: it never equals what the proxy
// wants, so the chain is refilled (the element replaced) on the next sync.
const unknownContent = "\x00unknown"

// tableState is what shoal's table holds, as far as the proxy knows.
type tableState struct {
	chains map[string]string             // name -> render()
	maps   map[string]map[string]mapElem // map -> key text -> element
	sets   map[string]bool               // client sets
}

func emptyTableState() *tableState {
	return &tableState{chains: map[string]string{}, maps: map[string]map[string]mapElem{}, sets: map[string]bool{}}
}

// stateOf is the table rs describes.
func stateOf(rs *ruleset) *tableState {
	st := emptyTableState()
	for _, c := range rs.chains {
		st.chains[c.name] = c.render()
	}
	for _, m := range rs.maps {
		els := make(map[string]mapElem, len(m.elems))
		for k, e := range m.elems {
			els[k] = e
		}
		st.maps[m.name] = els
	}
	for _, s := range rs.clientSets {
		st.sets[s] = true
	}
	return st
}

// op is one step of a sync: messages that commit together.
type op struct {
	msgs  int // messages it queues, for batch sizing
	queue func(b *batch) error
}

// batch is one transaction being built.
type batch struct {
	conn  *nftables.Conn
	table *nftables.Table
	// setIDs are the sets added in this batch: rules name them by ID, as
	// the kernel cannot find a set by name before its transaction commits.
	setIDs map[string]uint32
}

// planSync returns the ops that turn the table cur into want. cur == nil
// means the table does not exist.
func planSync(cur *tableState, want *ruleset) []op {
	var ops []op
	if cur == nil {
		cur = emptyTableState()
		ops = append(ops, op{1, func(b *batch) error { b.conn.AddTable(b.table); return nil }})
	}

	// 1. Maps and client sets.
	for _, m := range want.maps {
		if _, ok := cur.maps[m.name]; ok {
			continue
		}
		name := m.name
		ops = append(ops, op{1, func(b *batch) error {
			set := &nftables.Set{Table: b.table, Name: name, IsMap: true, Concatenation: true,
				KeyType: serviceKeyType, DataType: nftables.TypeVerdict}
			if err := b.conn.AddSet(set, nil); err != nil {
				return fmt.Errorf("map %s: %w", name, err)
			}
			b.setIDs[name] = set.ID
			return nil
		}})
	}
	for _, name := range want.clientSets {
		if cur.sets[name] {
			continue
		}
		ops = append(ops, op{1, func(b *batch) error {
			// No set-wide timeout: each element carries the one its rule
			// gives, so a changed timeout never has to alter the set.
			set := &nftables.Set{Table: b.table, Name: name, KeyType: nftables.TypeIPAddr, HasTimeout: true, Dynamic: true}
			if err := b.conn.AddSet(set, nil); err != nil {
				return fmt.Errorf("client set %s: %w", name, err)
			}
			b.setIDs[name] = set.ID
			return nil
		}})
	}

	// 2. New and changed chains, those jumped to first.
	chains := append([]*nftChain(nil), want.chains...)
	sort.SliceStable(chains, func(i, j int) bool { return createRank(chains[i]) < createRank(chains[j]) })
	for _, c := range chains {
		text := c.render()
		old, exists := cur.chains[c.name]
		if exists && old == text {
			continue
		}
		ops = append(ops, chainOp(c, exists))
	}

	// 3. Map elements.
	for _, m := range want.maps {
		ops = append(ops, elementOps(m.name, cur.maps[m.name], m.elems)...)
	}

	// 4. Chains no longer wanted, jumpers first.
	wantChain := make(map[string]bool, len(want.chains))
	for _, c := range want.chains {
		wantChain[c.name] = true
	}
	var gone []string
	for name := range cur.chains {
		if !wantChain[name] {
			gone = append(gone, name)
		}
	}
	sort.Slice(gone, func(i, j int) bool {
		if ri, rj := deleteRank(gone[i]), deleteRank(gone[j]); ri != rj {
			return ri < rj
		}
		return gone[i] < gone[j]
	})
	for _, name := range gone {
		ops = append(ops, op{2, func(b *batch) error {
			ch := &nftables.Chain{Name: name, Table: b.table}
			b.conn.FlushChain(ch)
			b.conn.DelChain(ch)
			return nil
		}})
	}

	// 5. Client sets no longer wanted.
	wantSet := make(map[string]bool, len(want.clientSets))
	for _, s := range want.clientSets {
		wantSet[s] = true
	}
	var goneSets []string
	for name := range cur.sets {
		if !wantSet[name] {
			goneSets = append(goneSets, name)
		}
	}
	sort.Strings(goneSets)
	for _, name := range goneSets {
		ops = append(ops, op{1, func(b *batch) error {
			b.conn.DelSet(&nftables.Set{Name: name, Table: b.table})
			return nil
		}})
	}
	return ops
}

// createRank orders chain creation: a chain comes after those it jumps to.
func createRank(c *nftChain) int {
	switch {
	case strings.HasPrefix(c.name, "ep-"):
		return 0
	case strings.HasPrefix(c.name, "svc-"):
		return 1
	case strings.HasPrefix(c.name, "ext-"):
		return 2
	case c.base == nil:
		return 3
	}
	return 4
}

// deleteRank orders chain deletion: a chain goes before those it jumps to.
func deleteRank(name string) int {
	switch {
	case strings.HasPrefix(name, "ext-"):
		return 1
	case strings.HasPrefix(name, "svc-"):
		return 2
	case strings.HasPrefix(name, "ep-"):
		return 3
	}
	return 0
}

// chainOp adds c, or flushes and refills it when it exists, in one op.
func chainOp(c *nftChain, exists bool) op {
	n := 1 + len(c.rules)
	if exists {
		n++
	}
	return op{n, func(b *batch) error {
		ch := &nftables.Chain{Name: c.name, Table: b.table}
		if c.base != nil {
			accept := nftables.ChainPolicyAccept
			ch.Type, ch.Hooknum, ch.Policy = c.base.typ, c.base.hook, &accept
			ch.Priority = nftables.ChainPriorityRef(nftables.ChainPriority(c.base.priority))
		}
		if !exists || c.base != nil {
			ch = b.conn.AddChain(ch)
		}
		if exists {
			b.conn.FlushChain(ch)
		}
		for _, r := range c.rules {
			exprs, err := b.ruleExprs(r)
			if err != nil {
				return fmt.Errorf("chain %s: %w", c.name, err)
			}
			b.conn.AddRule(&nftables.Rule{Table: b.table, Chain: ch, Exprs: exprs})
		}
		return nil
	}}
}

// ruleExprs is r's expressions with the sets made in this batch referred
// to by ID.
func (b *batch) ruleExprs(r *nftRule) ([]expr.Any, error) {
	exprs := make([]expr.Any, 0, len(r.exprs)+1)
	for _, e := range r.exprs {
		switch e := e.(type) {
		case *expr.Lookup:
			if id, ok := b.setIDs[e.SetName]; ok {
				cp := *e
				cp.SetID = id
				exprs = append(exprs, &cp)
				continue
			}
		case *expr.Dynset:
			if id, ok := b.setIDs[e.SetName]; ok {
				cp := *e
				cp.SetID = id
				exprs = append(exprs, &cp)
				continue
			}
		}
		exprs = append(exprs, e)
	}
	return exprs, nil
}

// elementOps changes map name from cur to want in ops of at most
// maxElemsPerOp elements. A changed element is deleted and added in the
// same op, so the key never goes missing.
func elementOps(name string, cur, want map[string]mapElem) []op {
	type change struct{ del, add *mapElem }
	var changed, removed, added []change
	for k, e := range cur {
		w, ok := want[k]
		switch {
		case !ok:
			removed = append(removed, change{del: &e})
		case w.chain != e.chain:
			changed = append(changed, change{del: &e, add: &w})
		}
	}
	for k, e := range want {
		if _, ok := cur[k]; !ok {
			added = append(added, change{add: &e})
		}
	}
	for _, cs := range [][]change{changed, removed, added} {
		sort.Slice(cs, func(i, j int) bool {
			a, b := cs[i].add, cs[j].add
			if a == nil {
				a, b = cs[i].del, cs[j].del
			}
			return a.text < b.text
		})
	}
	all := append(append(changed, removed...), added...)
	var ops []op
	for len(all) > 0 {
		chunk := all[:min(len(all), maxElemsPerOp)]
		all = all[len(chunk):]
		var d, a []mapElem
		for _, c := range chunk {
			if c.del != nil {
				d = append(d, *c.del)
			}
			if c.add != nil {
				a = append(a, *c.add)
			}
		}
		n := 0
		if len(d) > 0 {
			n++
		}
		if len(a) > 0 {
			n++
		}
		ops = append(ops, op{n, func(b *batch) error {
			m := &nftables.Set{Table: b.table, Name: name, IsMap: true, Concatenation: true,
				KeyType: serviceKeyType, DataType: nftables.TypeVerdict, ID: b.setIDs[name]}
			if len(d) > 0 {
				if err := b.conn.SetDeleteElements(m, elements(d)); err != nil {
					return fmt.Errorf("map %s: delete elements: %w", name, err)
				}
			}
			if len(a) > 0 {
				if err := b.conn.SetAddElements(m, elements(a)); err != nil {
					return fmt.Errorf("map %s: add elements: %w", name, err)
				}
			}
			return nil
		}})
	}
	return ops
}

func elements(es []mapElem) []nftables.SetElement {
	out := make([]nftables.SetElement, len(es))
	for i, e := range es {
		out[i] = nftables.SetElement{Key: e.key, VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: e.chain}}
	}
	return out
}

// applyOps sends ops in batches through connections from dial. Each batch
// is one transaction; an error leaves the table as the batches before it
// made it, which the caller must re-read.
func applyOps(dial func() (*nftables.Conn, error), table string, ops []op) (batches int, err error) {
	t := &nftables.Table{Name: table, Family: nftables.TableFamilyIPv4}
	var b *batch
	pending := 0
	flush := func() error {
		if b == nil || pending == 0 {
			return nil
		}
		batches++
		err := b.conn.Flush()
		b, pending = nil, 0
		return err
	}
	for _, o := range ops {
		if b != nil && pending+o.msgs > maxBatchMessages {
			if err := flush(); err != nil {
				return batches, err
			}
		}
		if b == nil {
			conn, err := dial()
			if err != nil {
				return batches, err
			}
			b = &batch{conn: conn, table: t, setIDs: map[string]uint32{}}
		}
		if err := o.queue(b); err != nil {
			return batches, err
		}
		pending += o.msgs
	}
	return batches, flush()
}

// readTable reads what the kernel's table holds: chain names (their rules
// unread), the Service maps' keys (their targets unread) and the client
// sets. It returns nil when the table does not exist, and ok false when
// the table cannot be updated in place (a map of another type, left by
// an older version) and must be replaced.
func readTable(conn *nftables.Conn, table string) (st *tableState, ok bool, err error) {
	t, err := conn.ListTableOfFamily(table, nftables.TableFamilyIPv4)
	if err != nil {
		return nil, true, nil // absent: the only error netlink gives for a lookup
	}
	chains, err := conn.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, false, fmt.Errorf("list chains: %w", err)
	}
	st = emptyTableState()
	for _, c := range chains {
		if c.Table != nil && c.Table.Name == table {
			st.chains[c.Name] = unknownContent
		}
	}
	sets, err := conn.GetSets(t)
	if err != nil {
		return nil, false, fmt.Errorf("list sets: %w", err)
	}
	for _, s := range sets {
		switch {
		case s.Anonymous:
		case s.Name == serviceIPsMap || s.Name == noEndpointsMap:
			if !s.IsMap || !s.Concatenation || s.KeyType.Bytes != serviceKeyType.Bytes {
				return st, false, nil
			}
			els, err := conn.GetSetElements(s)
			if err != nil {
				return nil, false, fmt.Errorf("list elements of %s: %w", s.Name, err)
			}
			m := make(map[string]mapElem, len(els))
			for _, e := range els {
				text, good := serviceKeyText(e.Key)
				if !good {
					return st, false, nil
				}
				m[text] = mapElem{key: e.Key, text: text, chain: unknownContent}
			}
			st.maps[s.Name] = m
		default:
			st.sets[s.Name] = true
		}
	}
	return st, true, nil
}

// serviceKeyText is the nft syntax of a 12-byte Service map key.
func serviceKeyText(k []byte) (string, bool) {
	if len(k) != 12 {
		return "", false
	}
	name := ""
	for _, p := range l4protos {
		if p.number == k[4] {
			name = p.name
		}
	}
	if name == "" {
		return "", false
	}
	return fmt.Sprintf("%s . %s . %d", net.IP(k[:4]), name, int(k[8])<<8|int(k[9])), true
}

// replaceOps deletes the table and builds rs from nothing. The first
// transaction deletes the old table and makes the new one with its maps
// and sets; the rest fill it.
func replaceOps(rs *ruleset) []op {
	drop := op{3, func(b *batch) error {
		b.conn.AddTable(b.table) // so the delete cannot fail when it is gone
		b.conn.DelTable(b.table)
		b.conn.AddTable(b.table)
		return nil
	}}
	return append([]op{drop}, planSync(emptyTableState(), rs)...)
}

// keepKnown fills in, for chains and map elements the kernel still holds,
// the contents the proxy knows it wrote (from known), so that only what
// went missing or appeared behind its back is rewritten.
func (st *tableState) keepKnown(known *tableState) {
	for name := range st.chains {
		if text, ok := known.chains[name]; ok {
			st.chains[name] = text
		}
	}
	for name, els := range st.maps {
		knownEls := known.maps[name]
		for k := range els {
			if e, ok := knownEls[k]; ok {
				els[k] = e
			}
		}
	}
}
