package dialer

import "net/netip"

// SourceAddr is the address the INVITE came from (the transport's remote
// address, not anything the caller wrote in the message): a carrier's SBC
// on a trunk, or whoever reached the SIP port. Invalid when unknown.
func (in *Inbound) SourceAddr() netip.Addr {
	ap, err := netip.ParseAddrPort(in.req.Source())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
