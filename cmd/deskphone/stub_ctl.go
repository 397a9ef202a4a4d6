package main

import (
	"fmt"
	"os"
)

// runCtl is a placeholder until ctl.go exists: delete this file when adding ctl.go.
func runCtl(args []string) int {
	fmt.Fprintln(os.Stderr, "deskphone ctl: not available in this build")
	return 1
}
