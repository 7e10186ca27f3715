# Reads the XML of a Catch2 v2 run (--reporter xml --durations yes) and prints, for
# tools/vmtest (plain awk: mawk is enough, no XML tool needed on a bare CI host):
#   T <pass|FAIL> <seconds> <test case name>    one line per finished test case
#   D <text>                                    details of the failure above it
#   R <test case name>                           the test case that was running when the run was cut
#   C <passed> <failed> <complete>               last line; complete=0 when the run was cut
# Catch2's XML puts one element per line and element text on lines of its own.

function unescape(s) {
	gsub(/&lt;/, "<", s); gsub(/&gt;/, ">", s); gsub(/&quot;/, "\"", s)
	gsub(/&apos;/, "'", s); gsub(/&#10;/, " ", s); gsub(/&amp;/, "\\&", s)
	return s
}
function attr(line, name,    i, rest) {
	i = index(line, " " name "=\"")
	if (!i) return ""
	rest = substr(line, i + length(name) + 3)
	return unescape(substr(rest, 1, index(rest, "\"") - 1))
}
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t\r]+$/, "", s); return s }
function detail(s) { details = details "D " s "\n" }

BEGIN { passed = 0; failed = 0; complete = 0; text_tag = "" }

# Inside a text element (Original, Expanded, Info, Warning, Failure, Exception...).
text_tag != "" {
	if (index($0, "</" text_tag ">")) {
		if (text_tag == "Original") original = text
		else if (text_tag == "Expanded") expanded = text
		else detail("  " text_tag ": " text)
		text_tag = ""
	} else {
		text = text (text == "" ? "" : " | ") trim(unescape($0))
	}
	next
}

/<TestCase / { name = attr($0, "name"); running = 1; details = ""; next }

/<Expression / {
	in_expr = (attr($0, "success") == "false")
	if (in_expr) where = attr($0, "filename") ":" attr($0, "line") ": " attr($0, "type")
	original = ""; expanded = ""
	next
}
/<\/Expression>/ {
	if (in_expr) detail(where "(" original ") with expansion: " expanded)
	in_expr = 0
	next
}

/<(Original|Expanded|Info|Warning|Failure|Exception|FatalErrorCondition)( [^>]*)?>[ \t]*$/ {
	text_tag = $0
	sub(/^[ \t]*</, "", text_tag); sub(/[ >].*$/, "", text_tag)
	if (text_tag == "Failure" || text_tag == "Exception" || text_tag == "FatalErrorCondition")
		detail(attr($0, "filename") ":" attr($0, "line") ": " text_tag)
	text = ""
	next
}

/<OverallResult / {
	if (attr($0, "success") == "true") { passed++; verdict = "pass" } else { failed++; verdict = "FAIL" }
	printf "T %s %s %s\n", verdict, attr($0, "durationInSeconds"), name
	if (verdict == "FAIL") printf "%s", details
	details = ""
	running = 0
	next
}

# The run's own totals come last: their presence says the run was not cut short.
/^<\/Catch>/ { complete = 1 }

END {
	if (running) printf "R %s\n%s", name, details
	printf "C %d %d %d\n", passed, failed, complete
}
