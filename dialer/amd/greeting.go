package amd

import "time"

// GreetingEnd is the audio time from the answer to the end of the last
// voice frame heard, once a greeting has been heard (false before, and when
// the answer was silent). After a human decision it is where the person's
// greeting ended: the abandon rules of the US (TSR) and the UK (Ofcom)
// count their two seconds from there.
func (d *Detector) GreetingEnd() (time.Duration, bool) {
	if !d.st.greeting {
		return 0, false
	}
	return time.Duration(d.st.lastVoice+1) * frameDur, true
}
