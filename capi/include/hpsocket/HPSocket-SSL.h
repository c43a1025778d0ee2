/*
 * shardnet's HPSocket-SSL.h: HP-Socket's C++ SSL and HTTPS classes (CSSLServerPtr, ...,
 * CHttpsServerPtr, CHttpsAgentPtr, CHttpsClientPtr, CHttpsSyncClientPtr). They live in
 * HPSocket.h beside the plain ones; this header is here so that programs that include HP's
 * HPSocket-SSL.h build unchanged.
 */
#ifndef SHARDNET_HPSOCKET_SSL_H
#define SHARDNET_HPSOCKET_SSL_H

#include "HPSocket.h"

#endif
