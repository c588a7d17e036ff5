package campaign

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/marcador/marcador/ivr/media"
)

// Call recordings: a campaign with record: true writes each agent call as
// a stereo WAV (debtor left, agent right) at
// <recordings.dir>/<YYYY>/<MM>/<DD>/<attempt id>.wav, the day (UTC) the
// attempt id's UUIDv7 carries, so a file is found from the id alone. A
// recording that cannot be written never stops the call: the row says why
// (recording_error) and marcador_recording_errors_total rises.

// RecordingName is the path of call id's recording under recordings.dir.
// The id must be an attempt id (a UUIDv7): nothing else becomes a path.
func RecordingName(id string) (string, error) {
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 7 || u.String() != id {
		return "", fmt.Errorf("call %.40q: not an attempt id: %w", id, os.ErrNotExist)
	}
	sec, nsec := u.Time().UnixTime()
	day := time.Unix(sec, nsec).UTC()
	return filepath.Join(day.Format("2006"), day.Format("01"), day.Format("02"), id+".wav"), nil
}

// openUnder opens rel under dir, refusing anything that would leave it.
func openUnder(dir, rel string) (*os.File, error) {
	if !filepath.IsLocal(rel) {
		return nil, fmt.Errorf("recording %q: %w", rel, os.ErrNotExist)
	}
	return os.Open(filepath.Join(dir, rel))
}

// startRecording opens the call's recorder when its campaign records; nil
// when it does not or the file cannot be created (the call goes on, the
// row says why).
func (lc *liveCall) startRecording() *media.CallRecorder {
	r := lc.r
	if !lc.c.Record {
		return nil
	}
	rel, err := RecordingName(lc.id)
	if err == nil {
		path := filepath.Join(r.opt.RecordingsDir, rel)
		if err = os.MkdirAll(filepath.Dir(path), 0o750); err == nil {
			var rec *media.CallRecorder
			rec, err = media.NewCallRecorder(media.RecorderOptions{Path: path, Logger: lc.log,
				OnError: func(err error) { lc.recordingFailed(err) }})
			if err == nil {
				lc.mu.Lock()
				lc.recording = rel
				lc.mu.Unlock()
				return rec
			}
		}
	}
	lc.recordingFailed(err)
	return nil
}

// recordingFailed notes, once per call, why its recording is missing or cut.
func (lc *liveCall) recordingFailed(err error) {
	lc.mu.Lock()
	first := lc.recErr == nil
	if first {
		lc.recErr = err
	}
	lc.mu.Unlock()
	if first {
		lc.r.recErrors.Add(1)
		lc.log.Error("campaign: call recording failed; the call goes on", "err", err)
	}
}

// closeRecording finishes the file (renamed from .part into place).
func (lc *liveCall) closeRecording(rec *media.CallRecorder) {
	if rec == nil {
		return
	}
	if err := rec.Close(); err != nil {
		lc.recordingFailed(err)
	}
	lc.mu.Lock()
	if lc.recErr != nil && !fileExists(rec.Path()) {
		lc.recording = ""
	}
	lc.mu.Unlock()
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
