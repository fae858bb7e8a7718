// Package greet is the leaf of gowarm's example module graph.
package greet

// Hello returns a greeting for name.
func Hello(name string) string {
	return "Hello, " + name + "!"
}
