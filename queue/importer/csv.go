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
			if errors.As(err, &pe) && errors.Is(err, csv.ErrQuote) && pe.Line > pe.StartLine {
				// A quote opened on StartLine ran over line breaks: the rows
				// after it are inside one field and cannot be told apart, so
				// none of the file from there can be trusted. Loading the
				// rows before it would leave the operator to find which
				// ones are missing; the upload is refused instead (it is
				// idempotent: fix the quote and send it again).
				return Result{}, fmt.Errorf("csv: line %d (row %d): a quoted field opened on this line is still open at line %d; "+
					"the rows from line %d on cannot be read: close the quote and upload again (nothing was loaded)",
					pe.StartLine, row, pe.Line, pe.StartLine)
			}
			if errors.As(err, &pe) && (errors.Is(err, csv.ErrFieldCount) || errors.Is(err, csv.ErrBareQuote) || errors.Is(err, csv.ErrQuote)) {
				id := ""
				if len(rec) > 0 {
					id = accountIDOf(names, rec)
				}
				reason := fmt.Sprintf("line %d: %v", pe.StartLine, pe.Err)
				if errors.Is(err, csv.ErrFieldCount) {
					reason = fmt.Sprintf("line %d: has %d columns, the header has %d", pe.StartLine, len(rec), len(header))
				}
				res.Errors = append(res.Errors, RowError{Row: row, AccountID: id, Reason: reason})
				continue
			}
			return res, fmt.Errorf("csv: row %d: %w", row, err)
		}
		if first, last, col, spans := lineSpan(cr, rec); spans {
			// A quoted field holding a line break: legal CSV, but in a
			// contact list it is nearly always a quote left open that
			// swallowed the rows below it, so the row is refused and the
			// lines it covers are named.
			field := "phone"
			if !phoneCol[col] {
				field = names[col]
			}
			res.Errors = append(res.Errors, RowError{Row: row, AccountID: accountIDOf(names, rec), Field: field,
				Reason: fmt.Sprintf("lines %d-%d: a quoted field holds a line break (is a quote left open?); nothing on these lines was loaded", first, last)})
			continue
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

// lineSpan says whether the record just read spans several lines, which
// ones, and the first column holding a line break.
func lineSpan(cr *csv.Reader, rec []string) (first, last, col int, spans bool) {
	first, _ = cr.FieldPos(0)
	last, col = first, -1
	for i, v := range rec {
		if n := strings.Count(v, "\n") + strings.Count(v, "\r") - strings.Count(v, "\r\n"); n > 0 {
			line, _ := cr.FieldPos(i)
			last = max(last, line+n)
			if col < 0 {
				col = i
			}
		}
	}
	return first, last, col, col >= 0
}
