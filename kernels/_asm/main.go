// Command _asm generates the amd64 assembly of package kernels with avo:
//
//	go run . -which gemm -out ../gemm_amd64.s -stubs ../gemm_amd64.go -pkg kernels
//	go run . -which peak -out ../peak_amd64.s -stubs ../peak_amd64.go -pkg kernels
//
// (see the go:generate lines in kernels/gemm.go).
package main

import (
	"flag"
	"fmt"
	"os"

	. "github.com/mmcloughlin/avo/build"
)

var which = flag.String("which", "gemm", "what to generate: gemm or peak")

func main() {
	flag.Parse()
	ConstraintExpr("amd64,!noasm,!purego")
	switch *which {
	case "gemm":
		genGemm()
	case "peak":
		genPeak()
	default:
		fmt.Fprintf(os.Stderr, "unknown -which %q\n", *which)
		os.Exit(2)
	}
	Generate()
}
