// Package textutil is served at a pre-release version with upper-case letters
// (v0.3.0-RC.1), which the proxy and module cache escape as v0.3.0-!r!c.1.
package textutil

// Reverse returns s with its runes in reverse order.
func Reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}
