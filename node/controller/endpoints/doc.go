// Package endpoints keeps the Endpoints and the EndpointSlices of every
// Service with a selector: the addresses of the pods it selects, read from
// the node's shared cache, as Kubernetes' endpoints and endpointslice
// controllers do. A Service's slices hold at most 100 endpoints each
// (named by the API server from "<service>-", owned by the Service); a
// pass writes only the slices whose content changed (planSlices).
package endpoints
