// Package parts is a second package in the widgets module.
package parts

// PerWidget is how many parts make one widget.
const PerWidget = 4

// Count returns the number of parts in n widgets.
func Count(n int) int {
	return n * PerWidget
}
