package oidc

// Hooks for the external tests: what discovery will list for client
// authentication (the lead wires these into the document).
var (
	ClientAuthMethods     = (*Provider).clientAuthMethods
	ClientAuthSigningAlgs = (*Provider).clientAuthSigningAlgs
)
