package importer

import "strings"

// cleanText makes an uploaded name or free field safe to put in a text
// message or on an agent's screen: C0 and C1 control characters and DEL go
// (a tab or line break becomes a space), and so do the Unicode bidirectional
// controls that can make a message read other than it is written
// (embeddings and overrides U+202A–U+202E, isolates U+2066–U+2069, and the
// marks U+200E, U+200F, U+061C). Runs of white space in a text that needed cleaning
// collapse to one space.
func cleanText(s string) string {
	if !needsCleaning(s) {
		return strings.TrimSpace(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f' || r == ' ':
			space = true
			continue
		case isControl(r):
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

func needsCleaning(s string) bool {
	for _, r := range s {
		if isControl(r) {
			return true
		}
	}
	return false
}

// isControl reports C0, DEL, C1 and the bidirectional controls.
func isControl(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true
	}
	return false
}
