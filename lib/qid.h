/*
 * NAME
 *	qid.h - queue ids
 * DESCRIPTION
 *	A queue id names one message in the queue: QID_LEN uppercase
 *	hexadecimal digits, the arrival second (8 digits, so ids sort
 *	roughly by age) followed by 8 random digits. Ids are unique per
 *	host because the queue file is created with O_EXCL and renamed
 *	into incoming/ without replacing anything (qfile.h).
 */
#ifndef POSTERN_QID_H
#define POSTERN_QID_H

#include "sys_defs.h"

#define QID_LEN 16
#define QID_SIZE (QID_LEN + 1)

void qid_make(char buf[QID_SIZE]);
bool qid_valid(const char *s);

#endif
