package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"
)

// The agent's configuration file (`--config FILE`) is YAML whose keys are
// the agent's flag names, so a flag and its key are one thing: a new flag
// in agentFlags is a key without more code. A flag given on the command
// line (or SHOAL_TOKEN in the environment) overrides the file. Values are
// checked against their flag's type here, then parsed by the flag itself,
// exactly as a command-line value is.

// notConfigKeys are agent flags that are not settings: --config names the
// file itself, and --check chooses what this run does (check the host and
// exit), which a file read by a service should never decide.
var notConfigKeys = map[string]bool{"config": true, "check": true}

// configKeys maps each key of the configuration file to its flag.
func configKeys(flags []ucli.Flag) map[string]ucli.Flag {
	keys := make(map[string]ucli.Flag, len(flags))
	for _, f := range flags {
		name := f.Names()[0]
		if !notConfigKeys[name] {
			keys[name] = f
		}
	}
	return keys
}

// applyConfigFile sets, from the YAML file at path, every flag that was not
// given on the command line. It reports every problem at once, each naming
// the file, the line and the key; values are never echoed (the token may
// be among them).
func applyConfigFile(c *ucli.Context, flags []ucli.Flag, path string) error {
	wrap := func(err error) error { return fmt.Errorf("--config %s: %w", path, err) }
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return wrap(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return wrap(err)
	}
	if len(doc.Content) == 0 {
		return nil // empty, or only comments
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return wrap(fmt.Errorf("line %d: want a mapping of flag names to values, got %s", root.Line, describeNode(root)))
	}
	keys := configKeys(flags)
	seen := map[string]int{}
	var errs []error
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		f, ok := keys[k.Value]
		if !ok {
			errs = append(errs, wrap(fmt.Errorf("line %d: unknown key %q; the keys are the agent's flag names (shoal agent --help)", k.Line, k.Value)))
			continue
		}
		if at, dup := seen[k.Value]; dup {
			errs = append(errs, wrap(fmt.Errorf("line %d: %s: already set on line %d", k.Line, k.Value, at)))
			continue
		}
		seen[k.Value] = k.Line
		values, line, err := configValues(f, v)
		if err != nil {
			errs = append(errs, wrap(fmt.Errorf("line %d: %s: %w", line, k.Value, err)))
			continue
		}
		if c.IsSet(k.Value) {
			continue // the command line wins
		}
		for _, s := range values {
			if err := c.Set(k.Value, s); err != nil {
				errs = append(errs, wrap(fmt.Errorf("line %d: %s: not a valid value", v.Line, k.Value)))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// configValues checks a value against its flag's type and returns it as
// the command-line strings that set it (one per item for a list), or the
// error and the line it is on.
func configValues(f ucli.Flag, v *yaml.Node) ([]string, int, error) {
	if v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	scalar := v.Kind == yaml.ScalarNode && v.ShortTag() != "!!null"
	switch f.(type) {
	case *ucli.StringSliceFlag:
		if v.Kind != yaml.SequenceNode {
			return nil, v.Line, fmt.Errorf("want a list of strings, such as [a, b]; got %s", describeNode(v))
		}
		out := make([]string, 0, len(v.Content))
		for i, e := range v.Content {
			if e.Kind != yaml.ScalarNode || e.ShortTag() == "!!null" {
				return nil, e.Line, fmt.Errorf("item %d: want a string, got %s", i+1, describeNode(e))
			}
			out = append(out, e.Value)
		}
		return out, v.Line, nil
	case *ucli.IntFlag:
		if !scalar || v.ShortTag() != "!!int" {
			return nil, v.Line, fmt.Errorf("want an integer, got %s", describeNode(v))
		}
	case *ucli.BoolFlag:
		if !scalar || v.ShortTag() != "!!bool" {
			return nil, v.Line, fmt.Errorf("want true or false, got %s", describeNode(v))
		}
	case *ucli.DurationFlag:
		if !scalar {
			return nil, v.Line, fmt.Errorf("want a duration such as 15s, got %s", describeNode(v))
		}
		if _, err := time.ParseDuration(v.Value); err != nil {
			return nil, v.Line, fmt.Errorf("%q is not a duration such as 15s or 1m30s", v.Value)
		}
	default: // strings, and any other flag type: the flag parses it
		if !scalar {
			return nil, v.Line, fmt.Errorf("want a string, got %s", describeNode(v))
		}
	}
	return []string{v.Value}, v.Line, nil
}

// describeNode names a YAML value's type for an error message.
func describeNode(v *yaml.Node) string {
	switch v.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	switch v.ShortTag() {
	case "!!null":
		return "no value"
	case "!!str":
		return "a string"
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	}
	return strings.TrimPrefix(v.ShortTag(), "!!")
}
