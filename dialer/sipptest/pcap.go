package sipptest

import (
	"encoding/binary"
	"fmt"
	"os"
	"time"

	"github.com/pion/rtp"

	"github.com/marcador/marcador/ivr/media"
)

// WriteAudioPcap writes pcm (8 kHz) as an RTP stream in codec, 20 ms a
// packet, to a pcap file sipp plays with play_pcap_audio: a recorded
// greeting (a corpus WAV) becomes what a sipp "debtor" says when it
// answers. Ethernet, IPv4 and UDP headers carry it (sipp rewrites the
// addresses and ports); the timestamps pace it.
func WriteAudioPcap(path string, codec media.Codec, pcm []int16) error {
	var out []byte
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // LINKTYPE_ETHERNET
	out = append(out, hdr...)
	start := time.Unix(1_700_000_000, 0)
	var payload []byte
	for i, n := 0, 0; i < len(pcm); i, n = i+media.FrameSamples, n+1 {
		payload = codec.Encode(payload[:0], pcm[i:min(i+media.FrameSamples, len(pcm))])
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: codec.PayloadType, SequenceNumber: uint16(n),
			Timestamp: uint32(i), SSRC: 0x5e55a0, Marker: n == 0}, Payload: payload}
		body, err := p.Marshal()
		if err != nil {
			return fmt.Errorf("pcap %s: %w", path, err)
		}
		frame := udpFrame(body)
		rec := make([]byte, 16)
		at := start.Add(time.Duration(n) * media.FrameDuration)
		binary.LittleEndian.PutUint32(rec[0:], uint32(at.Unix()))
		binary.LittleEndian.PutUint32(rec[4:], uint32(at.Nanosecond()/1000))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(frame)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(frame)))
		out = append(append(out, rec...), frame...)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return fmt.Errorf("pcap: %w", err)
	}
	return nil
}

// udpFrame wraps an RTP packet in Ethernet, IPv4 (127.0.0.1 to itself)
// and UDP headers.
func udpFrame(rtpPkt []byte) []byte {
	f := make([]byte, 14+20+8, 14+20+8+len(rtpPkt))
	binary.BigEndian.PutUint16(f[12:], 0x0800) // IPv4
	ip := f[14:34]
	ip[0], ip[8], ip[9] = 0x45, 64, 17 // version 4, 20-byte header; TTL; UDP
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(rtpPkt)))
	copy(ip[12:], []byte{127, 0, 0, 1})
	copy(ip[16:], []byte{127, 0, 0, 1})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := f[34:42]
	binary.BigEndian.PutUint16(udp[0:], 6000)
	binary.BigEndian.PutUint16(udp[2:], 6002)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(rtpPkt)))
	return append(f, rtpPkt...)
}
