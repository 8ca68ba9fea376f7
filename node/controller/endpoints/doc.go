// Package endpoints keeps the Endpoints and the EndpointSlice of every
// Service with a selector: the addresses of the pods it selects, read from
// the node's shared cache, as Kubernetes' endpoints and endpointslice
// controllers do.
package endpoints
