package resourcemetrics

import (
	"testing"
)

func TestSumInterfaces(t *testing.T) {
	ifs := []InterfaceStats{
		{Name: "eth0", RxBytes: 98765432, RxErrors: 3, TxBytes: 1234567, TxErrors: 1},
		{Name: "veth1a2b", RxBytes: 1000, TxBytes: 2000},
	}
	if sum := sumInterfaces(ifs); sum != (InterfaceStats{RxBytes: 98766432, RxErrors: 3, TxBytes: 1236567, TxErrors: 1}) {
		t.Errorf("sum = %+v", sum)
	}
}

func TestStatFS(t *testing.T) {
	fs, err := statFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if fs.CapacityBytes == 0 || fs.UsedBytes > fs.CapacityBytes || fs.AvailableBytes > fs.CapacityBytes {
		t.Errorf("implausible figures: %+v", fs)
	}
	if _, err := statFS("/nonexistent/shoal"); err == nil {
		t.Error("statFS of a missing path succeeded")
	}
}
