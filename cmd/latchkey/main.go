// Command latchkey is the Latchkey identity provider: `latchkey serve` runs
// the server; the other subcommands administer a stopped server's database
// and check configuration files.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "latchkey:", err)
		os.Exit(1)
	}
}
