package media_test

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/ivr/media"
)

// BenchmarkRelay is the per-packet cost of the bridge against a bare UDP
// forwarder (read a datagram, write it out) between the same two sockets,
// in the same run: a debtor's phone sends to our debtor leg's socket, the
// packet leaves our agent leg's socket for the agent's phone.
//
//	go test -run '^$' -bench Relay -benchtime 20000x ./ivr/media/
//
// "latency": one packet in flight at a time, so ns/op is the round trip
// phone → forwarder → phone. "burst": 32 in flight, so ns/op is the
// throughput cost. cpu-ns/op is the process's CPU (user+system) per
// packet, phones included (the same for both forwarders).
func BenchmarkRelay(b *testing.B) {
	debtorConn, agentConn := rtpConn(b), rtpConn(b)
	debtorPhone, agentPhone := udpSocket(b), udpSocket(b)
	pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 0xD}, Payload: make([]byte, 160)}).Marshal()

	for _, mode := range []struct {
		name   string
		window int
	}{{"latency", 1}, {"burst", 32}} {
		b.Run("bare/"+mode.name, func(b *testing.B) {
			stop := media.Forward(debtorConn, agentConn, addrOf(agentPhone), nil)
			defer stop()
			pump(b, debtorPhone, addrOf(debtorConn), agentPhone, pkt, mode.window)
		})
	}
	// The same sockets become our two legs, bridged.
	debtor := media.NewSession(media.SessionOptions{Conn: debtorConn, Codec: media.PCMU})
	agent := media.NewSession(media.SessionOptions{Conn: agentConn, Codec: media.PCMU})
	debtor.Start()
	agent.Start()
	defer debtor.Close()
	defer agent.Close()
	agentPhone.WriteToUDPAddrPort(pkt, addrOf(agentConn)) // the legs latch
	debtorPhone.WriteToUDPAddrPort(pkt, addrOf(debtorConn))
	polltest.Eventually(b, 10*time.Second, func() bool { return agent.Stats().Received > 0 && debtor.Stats().Received > 0 }, "both legs to latch")
	bridged, err := media.NewBridge(debtor, agent, media.BridgeOptions{NoConnectTone: true})
	if err != nil {
		b.Fatal(err)
	}
	defer bridged.Stop()
	drain(agentPhone) // the agent leg's silence from before the bridge
	for _, mode := range []struct {
		name   string
		window int
	}{{"latency", 1}, {"burst", 32}} {
		b.Run("relay/"+mode.name, func(b *testing.B) {
			pump(b, debtorPhone, addrOf(debtorConn), agentPhone, pkt, mode.window)
		})
	}
	if st := bridged.Stats().DebtorToAgent; st.Dropped != 0 {
		b.Fatalf("relay dropped %d packets", st.Dropped)
	}
}

func udpSocket(b testing.TB) *net.UDPConn {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	c.SetReadBuffer(1 << 20)
	b.Cleanup(func() { c.Close() })
	return c
}

func drain(c *net.UDPConn) {
	buf := make([]byte, 1500)
	for {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := c.Read(buf); err != nil {
			c.SetReadDeadline(time.Time{})
			return
		}
	}
}

// pump sends b.N packets from phone to dst and reads them at far, with up
// to window in flight, and reports CPU per packet.
func pump(b *testing.B, phone *net.UDPConn, dst netip.AddrPort, far *net.UDPConn, pkt []byte, window int) {
	out := append([]byte(nil), pkt...)
	buf := make([]byte, 1500)
	seq, ts := uint16(0), uint32(0)
	send := func() {
		seq++
		ts += 160
		binary.BigEndian.PutUint16(out[2:], seq)
		binary.BigEndian.PutUint32(out[4:], ts)
		if _, err := phone.WriteToUDPAddrPort(out, dst); err != nil {
			b.Fatal(err)
		}
	}
	far.SetReadDeadline(time.Now().Add(time.Minute))
	defer far.SetReadDeadline(time.Time{})
	cpu0 := cpuTime()
	b.ResetTimer()
	sent := 0
	for ; sent < min(window, b.N); sent++ {
		send()
	}
	for range b.N {
		if _, err := far.Read(buf); err != nil {
			b.Fatalf("after %d sent: %v", sent, err)
		}
		if sent < b.N {
			send()
			sent++
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(os.NewSyscallError("getrusage", err))
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
