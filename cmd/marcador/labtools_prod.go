//go:build prod

package main

// labCommands: a production build (-tags prod) has none of the lab tools,
// and links neither fake (see labtools.go).
func labCommands() map[string]command { return nil }
