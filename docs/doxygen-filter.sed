# Doxygen INPUT_FILTER for cvmm's headers (docs/Doxyfile.in).  Our comments follow the kernel-doc habit of
# STYLE §3; this turns them into what Doxygen reads, without changing the headers:
#  - "@name" (a parameter named in prose) becomes "\p name";
#  - a comment that follows a declaration on its line ("int x; /* what x is */") documents that member.
s/@([A-Za-z_][A-Za-z_0-9]*)/\\p \1/g
s#^([^/]*[;,{][[:space:]]*)/\*([^*<])#\1/**<\2#
