//go:build !linux

package media

import (
	"errors"
	"time"
)

func newFDTicker(time.Duration) (ticker, error) { return nil, errors.New("no timerfd") }
