package kpi

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// CSV writes the report as CSV: a header, one line per row, then the
// total (key "total"). Columns are the JSON fields in order; an amount or
// share per currency is one column per currency (promised_MXN); null is
// empty. Numbers are written as the JSON has them.
func (r *Report) CSV(w io.Writer) error {
	rows := append(slices.Clone(r.Rows), r.Total)
	flat := make([]map[string]string, len(rows))
	currencies := map[string][]string{}
	for i, row := range rows {
		b, err := json.Marshal(row)
		if err != nil {
			return err
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		flat[i] = map[string]string{}
		for name, raw := range m {
			var per map[string]json.RawMessage
			if json.Unmarshal(raw, &per) == nil && raw[0] == '{' {
				for cur, v := range per {
					flat[i][name+"_"+cur] = jsonValue(v)
					if !slices.Contains(currencies[name], cur) {
						currencies[name] = append(currencies[name], cur)
					}
				}
				continue
			}
			flat[i][name] = jsonValue(raw)
		}
	}
	var header []string
	t := reflect.TypeOf(Row{})
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		if k := t.Field(i).Type.Kind(); k == reflect.Map {
			curs := slices.Clone(currencies[name])
			slices.Sort(curs)
			for _, c := range curs {
				header = append(header, name+"_"+c)
			}
			continue
		}
		header = append(header, name)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return err
	}
	for _, f := range flat {
		line := make([]string, len(header))
		for j, h := range header {
			line[j] = f[h]
		}
		if err := cw.Write(line); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// jsonValue is a JSON scalar as CSV text: strings unquoted, null empty.
func jsonValue(raw json.RawMessage) string {
	s := string(raw)
	switch {
	case s == "null":
		return ""
	case strings.HasPrefix(s, `"`):
		var v string
		if err := json.Unmarshal(raw, &v); err == nil {
			return v
		}
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return fmt.Sprint(s)
	}
	return s
}
