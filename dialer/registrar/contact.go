package registrar

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// contactReq is one Contact of a REGISTER.
type contactReq struct {
	uri    sip.Uri
	key    string // binding identity, see contactKey
	params string // header parameters other than expires, ";a=b;c" or ""
	// expires is what the phone asked for (its expires parameter, else
	// the Expires header, else the default), before min/max.
	expires time.Duration
}

// maxContacts bounds the Contact values one REGISTER may carry.
const maxContacts = 16

var errWildcard = errors.New(`Contact "*" needs Expires: 0 and no other Contact`)

// readContacts reads a REGISTER's Contact header fields (RFC 3261 §10.3
// step 6). wildcard is a valid "Contact: *" (remove every binding); no
// contacts and no wildcard is a query.
func readContacts(req *sip.Request, def time.Duration) (wildcard bool, cs []contactReq, err error) {
	hdrExpires, hasHdr := def, false
	if h := req.GetHeader("Expires"); h != nil {
		hasHdr = true
		hdrExpires = parseExpires(h.Value(), def)
	}
	for _, h := range req.GetHeaders("Contact") {
		ch, ok := h.(*sip.ContactHeader)
		if !ok {
			ch = &sip.ContactHeader{}
			if _, err := sip.ParseAddressValue(h.Value(), &ch.Address, &ch.Params); err != nil {
				return false, nil, fmt.Errorf("Contact %.80q: %w", h.Value(), err)
			}
		}
		if ch.Address.Wildcard {
			wildcard = true
			continue
		}
		if len(cs) == maxContacts {
			return false, nil, fmt.Errorf("more than %d Contact values", maxContacts)
		}
		scheme := strings.ToLower(ch.Address.Scheme)
		if scheme != "sip" && scheme != "sips" || ch.Address.Host == "" {
			return false, nil, fmt.Errorf("Contact %.80q: want a sip or sips URI with a host", ch.Address.String())
		}
		c := contactReq{uri: ch.Address, key: contactKey(ch.Address), expires: hdrExpires}
		var keep sip.HeaderParams
		for _, kv := range ch.Params {
			if strings.EqualFold(kv.K, "expires") {
				c.expires = parseExpires(kv.V, hdrExpires)
				continue
			}
			keep = append(keep, kv)
		}
		if len(keep) > 0 {
			c.params = ";" + keep.ToString(';')
		}
		cs = append(cs, c)
	}
	if wildcard && (len(cs) > 0 || !hasHdr || hdrExpires != 0) {
		return false, nil, errWildcard
	}
	return wildcard, cs, nil
}

// parseExpires reads delta-seconds; a value that is not one is def (RFC 3261
// §10.3 step 6 leaves it to the registrar), one above 2^32-1 is 2^32-1.
func parseExpires(v string, def time.Duration) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return def
	}
	for _, r := range v {
		if r < '0' || r > '9' {
			return def
		}
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		n = math.MaxUint32
	}
	return time.Duration(n) * time.Second
}

// contactKey is what makes two Contact URIs one binding: scheme, user,
// host (case-insensitive), port (the scheme's default when absent) and
// transport. A simplification of RFC 3261 §19.1.4 that phones refreshing
// their own Contact always meet.
func contactKey(u sip.Uri) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port
	if port == 0 {
		port = 5060
		if scheme == "sips" {
			port = 5061
		}
	}
	k := scheme + ":" + u.User + "@" + strings.ToLower(u.Host) + ":" + strconv.Itoa(port)
	for _, kv := range u.UriParams {
		if strings.EqualFold(kv.K, "transport") && kv.V != "" {
			k += ";transport=" + strings.ToLower(kv.V)
		}
	}
	return k
}

// behindNAT says a Contact does not name the address the REGISTER came
// from.
func behindNAT(u sip.Uri, src netip.AddrPort) bool {
	a, err := netip.ParseAddr(strings.Trim(u.Host, "[]"))
	if err != nil || !src.IsValid() {
		return true
	}
	port := u.Port
	if port == 0 {
		port = 5060
	}
	return a.Unmap() != src.Addr().Unmap() || uint16(port) != src.Port()
}
