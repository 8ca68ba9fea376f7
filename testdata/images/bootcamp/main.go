// Command bootcamp stands in for gcr.io/google-samples/kubernetes-bootcamp in
// tests: an HTTP server on :8080 that answers with the pod's hostname and the
// image's version, in the words of the original.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

// version is set at build time (-ldflags "-X main.version=v1").
var version = "v1"

func main() {
	host, _ := os.Hostname()
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hello Kubernetes bootcamp! | Running on: %s | v=%s\n", host, version)
	})
	log.Printf("Kubernetes Bootcamp App Started At: port %s | Running On:  %s", port, host)
	log.Fatal(http.ListenAndServe(":"+port, nil))
}
