// Command stress stands in for polinux/stress in tests. It understands the
// flags the seed's memory-demo pod passes: --vm N --vm-bytes SIZE
// --vm-hang SECONDS. It allocates SIZE, touches every page so the memory is
// really used, and holds it. --cpu N spins N workers, each burning a core
// (with --cpu alone, no memory is allocated, as with the real stress).
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	vm := flag.Int("vm", 1, "workers (the stand-in uses one)")
	size := flag.String("vm-bytes", "256M", "bytes to allocate: N, NK, NM or NG")
	hang := flag.Int("vm-hang", 0, "seconds to hold the memory before touching it again (0: forever)")
	cpu := flag.Int("cpu", 0, "workers spinning on the CPU")
	flag.Parse()
	n, err := parseSize(*size)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stress:", err)
		os.Exit(1)
	}
	vmSet := false
	flag.Visit(func(f *flag.Flag) { vmSet = vmSet || f.Name == "vm" })
	if *cpu > 0 && !vmSet {
		*vm, n = 0, 0
	}
	fmt.Printf("stress: info: dispatching hogs: %d cpu, 0 io, %d vm, 0 hdd (%d bytes)\n", *cpu, *vm, n)
	for i := 0; i < *cpu; i++ {
		go spin()
	}
	buf := make([]byte, n)
	for {
		for i := 0; i < len(buf); i += 4096 {
			buf[i] = byte(i)
		}
		if *hang <= 0 {
			select {}
		}
		time.Sleep(time.Duration(*hang) * time.Second)
	}
}

// spin burns a core until the process ends.
func spin() {
	x := 1.0
	for {
		x = x*1.0000001 + 1e-9
		if x > 1e300 {
			x = 1
		}
	}
}

func parseSize(s string) (int, error) {
	mult := 1
	switch {
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}
