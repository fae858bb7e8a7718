// Package widgets has an upper-case letter in its module path, so the module cache and
// the proxy store it as example.com/!big!co/widgets.
package widgets

import (
	"fmt"

	"example.com/BigCo/widgets/parts"
	"example.com/greet"
)

// Describe greets the owner of n widgets.
func Describe(n int) string {
	return fmt.Sprintf("%s You have %d widgets (%d parts).", greet.Hello("widget owner"), n, parts.Count(n))
}
