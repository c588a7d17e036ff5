package importer

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ParseCSV reads a contact list with a header row. The separator (',' or
// ';', the latter common in Latin American spreadsheets) is taken from the
// header line; a UTF-8 byte-order mark is skipped.
func ParseCSV(r io.Reader, opt Options) (Result, error) {
	var res Result
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		br.Discard(3)
	}
	line, err := br.Peek(4096)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return res, fmt.Errorf("csv: read header: %w", err)
	}
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	cr := csv.NewReader(br)
	if bytes.Count(line, []byte(";")) > bytes.Count(line, []byte(",")) {
		cr.Comma = ';'
	}
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err == io.EOF {
		return res, errors.New("csv: empty upload (no header row)")
	}
	if err != nil {
		return res, fmt.Errorf("csv: header: %w", err)
	}
	cr.FieldsPerRecord = len(header)
	names := make([]string, len(header))
	phoneCol := make([]bool, len(header))
	hasID, hasPhone := false, false
	for i, h := range header {
		names[i], phoneCol[i] = canonical(h)
		hasID = hasID || names[i] == "account_id"
		hasPhone = hasPhone || phoneCol[i]
	}
	if !hasID {
		return res, fmt.Errorf("csv: header %q has no account_id column", strings.Join(header, string(cr.Comma)))
	}
	if !hasPhone {
		return res, fmt.Errorf("csv: header %q has no phone column (phone, phone1..phone9)", strings.Join(header, string(cr.Comma)))
	}
	seen := map[string]int{}
	for row := 1; ; row++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) && (errors.Is(err, csv.ErrFieldCount) || errors.Is(err, csv.ErrBareQuote) || errors.Is(err, csv.ErrQuote)) {
				id := ""
				if len(rec) > 0 {
					id = accountIDOf(names, rec)
				}
				reason := pe.Err.Error()
				if errors.Is(err, csv.ErrFieldCount) {
					reason = fmt.Sprintf("has %d columns, the header has %d", len(rec), len(header))
				}
				res.Errors = append(res.Errors, RowError{Row: row, AccountID: id, Reason: reason})
				if errors.Is(err, csv.ErrQuote) && len(rec) == 0 {
					break // an unterminated quote swallowed the rest of the file
				}
				continue
			}
			return res, fmt.Errorf("csv: row %d: %w", row, err)
		}
		r := record{row: row, fields: map[string]string{}}
		for i, v := range rec {
			switch {
			case phoneCol[i]:
				for p := range strings.SplitSeq(v, "|") {
					if p = strings.TrimSpace(p); p != "" {
						r.phones = append(r.phones, p)
					}
				}
			case known[names[i]]:
				r.fields[names[i]] = v
			case names[i] != "" && strings.TrimSpace(v) != "":
				if r.extra == nil {
					r.extra = map[string]string{}
				}
				r.extra[names[i]] = strings.TrimSpace(v)
			}
		}
		a, rerr := build(r, opt, seen)
		if rerr != nil {
			res.Errors = append(res.Errors, *rerr)
			continue
		}
		res.Accounts = append(res.Accounts, a)
	}
	return res, nil
}

func accountIDOf(names []string, rec []string) string {
	for i, n := range names {
		if n == "account_id" && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
	}
	return ""
}
