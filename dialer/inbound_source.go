package dialer

import "net/netip"

// SourceAddr is the address the INVITE came from (the transport's remote
// address, not anything the caller wrote in the message): a carrier's SBC
// on a trunk. Invalid when unknown.
func (in *Inbound) SourceAddr() netip.Addr { return sourceOf(in.req) }
