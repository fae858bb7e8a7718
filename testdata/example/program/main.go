// Command program builds against gowarm's example modules (testdata/example/modules),
// served by a test GOPROXY; go.sum was written by `go mod tidy` against that proxy.
package main

import (
	"fmt"

	"example.com/BigCo/widgets"
	"example.com/tools/textutil"
)

func main() {
	fmt.Println(widgets.Describe(3))
	fmt.Println(textutil.Reverse("mrawog"))
}
