package main

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// printable is s as every human-readable output of the CLI prints a value
// that came from outside (a userName, a tenant or key name, a store's
// error, a resource id): as it is when every character is printable
// (strconv.IsPrint: letters, marks, numbers, punctuation, symbols, the
// ASCII space) and it does not start with a double quote; otherwise
// Go-quoted (strconv.Quote), so control characters (ESC, BEL, CR, LF, TAB,
// DEL, C1), invisible and bidirectional formatting characters and invalid
// UTF-8 are shown as escapes and never reach the operator's terminal.
// Normal Unicode stays readable ("Zoë", "张伟"); a quoted value starts with
// a quote, so it cannot be mistaken for a raw one. --json output is
// escaped by its encoder instead.
func printable(s string) string {
	if s != "" && s[0] == '"' {
		return strconv.Quote(s)
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return strconv.Quote(s)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
		i += size
	}
	return s
}

// printableLines is printable for each line of a multi-line message (an
// error listing several problems): the line breaks are the message's own.
func printableLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = printable(l)
	}
	return strings.Join(lines, "\n")
}

// printableList is a comma-separated list of printable values.
func printableList(list []string) string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = printable(s)
	}
	return strings.Join(out, ", ")
}
