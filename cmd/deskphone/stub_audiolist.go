package main

import (
	"fmt"
	"os"
)

// runAudioList is a placeholder until hardware.go exists: delete this file when adding it.
func runAudioList() int {
	fmt.Fprintln(os.Stderr, "deskphone audio list: not available in this build")
	return 1
}
